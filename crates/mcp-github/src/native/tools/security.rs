//! The reference's security toolsets over GitHub's REST API: `code_security` (code scanning
//! alerts), `code_quality` (code quality findings), `dependabot` (Dependabot alerts),
//! `secret_protection` (secret scanning alerts) and `security_advisories` (the global advisory
//! database, and a repository's or an organization's advisories). All read.
//!
//! Results keep what a model needs of GitHub's documented objects. Text that outsiders write
//! (rule descriptions and alert messages, advisory summaries and descriptions, dismissal and
//! resolution comments) is marked as untrusted: by its author where GitHub names one, else by
//! `@unknown`. A secret scanning alert keeps the leaked `secret`, as GitHub's server returns it
//! (the token could read it on github.com anyway); it is never logged, and errors never carry it.
//! Lockdown mode, which is about who may push to a public repository, does not apply: these
//! alerts are shown only to those with security access, as in the reference.

use http::HeaderMap;
use serde_json::{Map, Value, json};

use super::{Args, Inner, Query, Spec, e, page, per_page, s, segment};
use crate::{Error, Result};

fn number(description: &str) -> Value {
    json!({"type": "number", "description": description})
}
fn owner() -> Value {
    s("The owner of the repository")
}
fn repo() -> Value {
    s("The name of the repository")
}
fn advisory_filters() -> Value {
    json!({"direction": e("Sort direction", &["asc", "desc"]),
           "sort": e("Sort by", &["created", "updated", "published"]),
           "state": e("Only advisories in this state", &["triage", "draft", "published", "closed"])})
}

/// The tools of this module.
pub(crate) static SPECS: &[Spec] = &[
    Spec {
        name: "list_code_scanning_alerts",
        toolset: "code_security",
        read_only: true,
        title: "List code scanning alerts",
        description: "Lists a repository's code scanning alerts (open ones unless state says otherwise), optionally \
            of one severity, tool or Git ref; pages with page and perPage.",
        properties: || {
            json!({"owner": owner(), "repo": repo(),
                   "state": {"type": "string", "enum": ["open", "closed", "dismissed", "fixed"], "default": "open",
                             "description": "Only alerts in this state; open when absent"},
                   "ref": s("The Git ref the alerts were found on (refs/heads/BRANCH, refs/pull/N/merge)"),
                   "severity": e("Only alerts of this severity", &["critical", "high", "medium", "low", "warning", "note", "error"]),
                   "tool_name": s("Only alerts of this code scanning tool (CodeQL, ...)"),
                   "page": page(), "perPage": per_page()})
        },
        required: &["owner", "repo"],
    },
    Spec {
        name: "get_code_scanning_alert",
        toolset: "code_security",
        read_only: true,
        title: "Get code scanning alert",
        description: "Reads one code scanning alert: its rule, tool, state and where it was found.",
        properties: || json!({"owner": owner(), "repo": repo(), "alertNumber": number("The alert's number")}),
        required: &["owner", "repo", "alertNumber"],
    },
    Spec {
        name: "get_code_quality_finding",
        toolset: "code_quality",
        read_only: true,
        title: "Get code quality finding",
        description: "Reads one code quality finding: its rule, message and location.",
        properties: || json!({"owner": owner(), "repo": repo(), "findingNumber": number("The finding's number")}),
        required: &["owner", "repo", "findingNumber"],
    },
    Spec {
        name: "list_dependabot_alerts",
        toolset: "dependabot",
        read_only: true,
        title: "List dependabot alerts",
        description: "Lists a repository's Dependabot alerts (open ones unless state says otherwise), optionally of \
            one severity; pages by cursor (after = the previous page's pageInfo.nextCursor).",
        properties: || {
            json!({"owner": owner(), "repo": repo(),
                   "state": {"type": "string", "enum": ["open", "fixed", "dismissed", "auto_dismissed"], "default": "open",
                             "description": "Only alerts in this state; open when absent"},
                   "severity": e("Only alerts of this severity", &["low", "medium", "high", "critical"]),
                   "perPage": per_page(), "after": s("Cursor: the previous page's pageInfo.nextCursor")})
        },
        required: &["owner", "repo"],
    },
    Spec {
        name: "get_dependabot_alert",
        toolset: "dependabot",
        read_only: true,
        title: "Get dependabot alert",
        description: "Reads one Dependabot alert: the dependency, the advisory and the versions that fix it.",
        properties: || json!({"owner": owner(), "repo": repo(), "alertNumber": number("The alert's number")}),
        required: &["owner", "repo", "alertNumber"],
    },
    Spec {
        name: "list_secret_scanning_alerts",
        toolset: "secret_protection",
        read_only: true,
        title: "List secret scanning alerts",
        description: "Lists a repository's secret scanning alerts, optionally by state, secret types \
            (comma-separated) or resolution; pages with page and perPage.",
        properties: || {
            json!({"owner": owner(), "repo": repo(),
                   "state": e("Only alerts in this state", &["open", "resolved"]),
                   "secret_type": s("Comma-separated secret types (all default patterns when absent)"),
                   "resolution": e("Only alerts resolved this way",
                                   &["false_positive", "wont_fix", "revoked", "pattern_edited", "pattern_deleted", "used_in_tests"]),
                   "page": page(), "perPage": per_page()})
        },
        required: &["owner", "repo"],
    },
    Spec {
        name: "get_secret_scanning_alert",
        toolset: "secret_protection",
        read_only: true,
        title: "Get secret scanning alert",
        description: "Reads one secret scanning alert: the secret's type, the secret, its validity and resolution.",
        properties: || json!({"owner": owner(), "repo": repo(), "alertNumber": number("The alert's number")}),
        required: &["owner", "repo", "alertNumber"],
    },
    Spec {
        name: "list_global_security_advisories",
        toolset: "security_advisories",
        read_only: true,
        title: "List global security advisories",
        description: "Searches GitHub's advisory database (reviewed advisories unless type says otherwise) by id, \
            CVE, ecosystem, severity, CWEs, affected packages or dates.",
        properties: || {
            json!({"ghsaId": s("A GitHub Security Advisory id (GHSA-xxxx-xxxx-xxxx)"),
                   "type": {"type": "string", "enum": ["reviewed", "malware", "unreviewed"], "default": "reviewed",
                            "description": "The kind of advisory"},
                   "cveId": s("A CVE id"),
                   "ecosystem": e("Only advisories of this package ecosystem",
                                  &["actions", "composer", "erlang", "go", "maven", "npm", "nuget", "other", "pip", "pub", "rubygems", "rust"]),
                   "severity": e("Only advisories of this severity", &["unknown", "low", "medium", "high", "critical"]),
                   "cwes": {"type": "array", "items": {"type": "string"}, "description": "CWE ids (79, 284, ...)"},
                   "isWithdrawn": {"type": "boolean", "description": "Only withdrawn advisories"},
                   "affects": s("Affected packages, optionally with versions (package1,package2@1.0.0)"),
                   "published": s("Published on this date or in this range (ISO 8601)"),
                   "updated": s("Updated on this date or in this range (ISO 8601)"),
                   "modified": s("Published or updated on this date or in this range (ISO 8601)")})
        },
        required: &[],
    },
    Spec {
        name: "get_global_security_advisory",
        toolset: "security_advisories",
        read_only: true,
        title: "Get a global security advisory",
        description: "Reads one advisory of GitHub's advisory database by its GHSA id.",
        properties: || json!({"ghsaId": s("The GitHub Security Advisory id (GHSA-xxxx-xxxx-xxxx)")}),
        required: &["ghsaId"],
    },
    Spec {
        name: "list_repository_security_advisories",
        toolset: "security_advisories",
        read_only: true,
        title: "List repository security advisories",
        description: "Lists a repository's security advisories, optionally by state, in an order.",
        properties: || {
            let mut props = advisory_filters();
            props["owner"] = owner();
            props["repo"] = repo();
            props
        },
        required: &["owner", "repo"],
    },
    Spec {
        name: "list_org_repository_security_advisories",
        toolset: "security_advisories",
        read_only: true,
        title: "List org repository security advisories",
        description: "Lists the security advisories of an organization's repositories, optionally by state, in an order.",
        properties: || {
            let mut props = advisory_filters();
            props["org"] = s("The organization's login");
            props
        },
        required: &["org"],
    },
];

/// Runs tool `name` of this module.
pub(super) async fn call(inner: &Inner, name: &str, a: &Args<'_>) -> Result<Value> {
    let api = &inner.api;
    Ok(match name {
        "list_code_scanning_alerts" => {
            let mut q = Query::default();
            // The schema's default, applied: GitHub itself would list every state.
            q.push("state", a.opt_str("state")?.filter(|s| !s.is_empty()).unwrap_or_else(|| "open".into()));
            q.opt("ref", a.opt_str("ref")?);
            q.opt("severity", a.opt_str("severity")?);
            q.opt("tool_name", a.opt_str("tool_name")?);
            a.paging(&mut q)?;
            let reply = api.get(&q.on(&format!("{}/code-scanning/alerts", a.repo_path()?))).await?.body;
            list(&reply, |alert| code_scanning_alert(inner, alert, false))
        }
        "get_code_scanning_alert" => {
            let path = format!("{}/code-scanning/alerts/{}", a.repo_path()?, a.num("alertNumber")?);
            Value::Object(code_scanning_alert(inner, &api.get(&path).await?.body, true))
        }
        "get_code_quality_finding" => {
            let path = format!("{}/code-quality/findings/{}", a.repo_path()?, a.num("findingNumber")?);
            Value::Object(code_quality_finding(inner, &api.get(&path).await?.body))
        }
        "list_dependabot_alerts" => {
            let mut q = Query::default();
            q.push("state", a.opt_str("state")?.filter(|s| !s.is_empty()).unwrap_or_else(|| "open".into()));
            q.opt("severity", a.opt_str("severity")?);
            if let Some(n) = a.opt_num("perPage")? {
                if !(1..=100).contains(&n) {
                    return Err(a.bad(format!("`perPage` must be between 1 and 100, not {n}")));
                }
                q.push("per_page", n.to_string());
            }
            q.opt("after", a.opt_str("after")?);
            let reply = api.get(&q.on(&format!("{}/dependabot/alerts", a.repo_path()?))).await?;
            let (next, prev) = cursors(&reply.headers);
            let mut info = json!({"hasNextPage": next.is_some(), "hasPreviousPage": prev.is_some()});
            if let Some(next) = next {
                info["nextCursor"] = json!(next);
            }
            if let Some(prev) = prev {
                info["prevCursor"] = json!(prev);
            }
            json!({"alerts": list(&reply.body, |alert| dependabot_alert(inner, alert, false)), "pageInfo": info})
        }
        "get_dependabot_alert" => {
            let path = format!("{}/dependabot/alerts/{}", a.repo_path()?, a.num("alertNumber")?);
            Value::Object(dependabot_alert(inner, &api.get(&path).await?.body, true))
        }
        "list_secret_scanning_alerts" => {
            let mut q = Query::default();
            q.opt("state", a.opt_str("state")?);
            q.opt("secret_type", a.opt_str("secret_type")?);
            q.opt("resolution", a.opt_str("resolution")?);
            a.paging(&mut q)?;
            let reply = api.get(&q.on(&format!("{}/secret-scanning/alerts", a.repo_path()?))).await?.body;
            list(&reply, |alert| secret_scanning_alert(inner, alert))
        }
        "get_secret_scanning_alert" => {
            let path = format!("{}/secret-scanning/alerts/{}", a.repo_path()?, a.num("alertNumber")?);
            Value::Object(secret_scanning_alert(inner, &api.get(&path).await?.body))
        }
        "list_global_security_advisories" => {
            let mut q = Query::default();
            for (arg, param) in [
                ("ghsaId", "ghsa_id"),
                ("type", "type"),
                ("cveId", "cve_id"),
                ("ecosystem", "ecosystem"),
                ("severity", "severity"),
                ("affects", "affects"),
                ("published", "published"),
                ("updated", "updated"),
                ("modified", "modified"),
            ] {
                q.opt(param, a.opt_str(arg)?);
            }
            if let Some(cwes) = a.opt_strings("cwes")?.filter(|c| !c.is_empty()) {
                q.push("cwes", cwes.join(","));
            }
            if let Some(withdrawn) = a.opt_bool("isWithdrawn")? {
                q.push("is_withdrawn", withdrawn.to_string());
            }
            let reply = api.get(&q.on("/advisories")).await?.body;
            list(&reply, |advisory| global_advisory(inner, advisory, false))
        }
        "get_global_security_advisory" => {
            let reply = api.get(&format!("/advisories/{}", segment(&a.str("ghsaId")?))).await?.body;
            Value::Object(global_advisory(inner, &reply, true))
        }
        "list_repository_security_advisories" | "list_org_repository_security_advisories" => {
            let mut q = Query::default();
            for key in ["direction", "sort", "state"] {
                q.opt(key, a.opt_str(key)?);
            }
            let path = if name == "list_repository_security_advisories" {
                format!("{}/security-advisories", a.repo_path()?)
            } else {
                format!("/orgs/{}/security-advisories", segment(&a.str("org")?))
            };
            let reply = api.get(&q.on(&path)).await?.body;
            list(&reply, |advisory| repository_advisory(inner, advisory))
        }
        other => return Err(Error::Config(format!("the native server has no tool `{other}`"))),
    })
}

/// `f` of each item of GitHub's list.
fn list(value: &Value, f: impl Fn(&Value) -> Map<String, Value>) -> Value {
    Value::Array(value.as_array().into_iter().flatten().map(|v| Value::Object(f(v))).collect())
}

/// The `keys` of `value` that it has with a value (nulls left out).
fn some(value: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter().filter_map(|k| value.get(*k).filter(|v| !v.is_null()).map(|v| ((*k).to_owned(), v.clone()))).collect()
}

/// `value` under `key`, unless it is null.
fn put(out: &mut Map<String, Value>, key: &str, value: Value) {
    if !value.is_null() {
        out.insert(key.to_owned(), value);
    }
}

/// The `keys` of the object at `value[at]`, when there is one.
fn part(out: &mut Map<String, Value>, value: &Value, at: &str, keys: &[&str]) {
    if let Some(inner) = value.get(at).filter(|v| v.is_object()) {
        out.insert(at.to_owned(), Value::Object(some(inner, keys)));
    }
}

/// `{login}` of the user at `value[at]`, when there is one.
fn login(out: &mut Map<String, Value>, value: &Value, at: &str) {
    part(out, value, at, &["login"]);
}

/// `text` marked as untrusted, by `author` (`@unknown` when GitHub names none).
fn marked(inner: &Inner, text: Option<&Value>, author: Option<&Value>) -> Value {
    let probe = json!({"text": text.cloned().unwrap_or(Value::Null),
                       "user": {"login": author.cloned().unwrap_or(Value::Null)}});
    inner.mark(&probe, "text")
}

/// A code scanning alert's essentials; with `full`, the rule's long description and help.
fn code_scanning_alert(inner: &Inner, v: &Value, full: bool) -> Map<String, Value> {
    let mut out = some(
        v,
        &["number", "state", "html_url", "created_at", "updated_at", "fixed_at", "dismissed_at", "dismissed_reason"],
    );
    login(&mut out, v, "dismissed_by");
    put(&mut out, "dismissed_comment", marked(inner, v.get("dismissed_comment"), v.pointer("/dismissed_by/login")));
    if let Some(rule) = v.get("rule").filter(|r| r.is_object()) {
        let mut r = some(rule, &["id", "name", "severity", "security_severity_level", "tags"]);
        put(&mut r, "description", marked(inner, rule.get("description"), None));
        if full {
            put(&mut r, "full_description", marked(inner, rule.get("full_description"), None));
            put(&mut r, "help", marked(inner, rule.get("help"), None));
        }
        out.insert("rule".into(), Value::Object(r));
    }
    part(&mut out, v, "tool", &["name", "version"]);
    if let Some(instance) = v.get("most_recent_instance").filter(|i| i.is_object()) {
        let mut i = some(instance, &["ref", "state", "commit_sha", "category", "environment"]);
        part(&mut i, instance, "location", &["path", "start_line", "end_line", "start_column", "end_column"]);
        let text = marked(inner, instance.pointer("/message/text"), None);
        if !text.is_null() {
            i.insert("message".into(), json!({"text": text}));
        }
        out.insert("most_recent_instance".into(), Value::Object(i));
    }
    out
}

/// A code quality finding's essentials: its rule, message and location.
fn code_quality_finding(inner: &Inner, v: &Value) -> Map<String, Value> {
    let mut out = some(v, &["number", "state", "url", "created_at"]);
    if let Some(rule) = v.get("rule").filter(|r| r.is_object()) {
        let mut r = some(rule, &["id", "title", "severity", "category"]);
        put(&mut r, "description", marked(inner, rule.get("description"), None));
        put(&mut r, "help", marked(inner, rule.get("help"), None));
        out.insert("rule".into(), Value::Object(r));
    }
    let text = marked(inner, v.pointer("/message/text"), None);
    if !text.is_null() {
        out.insert("message".into(), json!({"text": text}));
    }
    part(&mut out, v, "location", &["path", "start_line", "end_line", "start_column", "end_column"]);
    out
}

/// The package a dependency or vulnerability is about.
fn package(out: &mut Map<String, Value>, v: &Value) {
    part(out, v, "package", &["ecosystem", "name"]);
}

/// A Dependabot alert's essentials; with `full`, the advisory's description, identifiers and
/// references, and who dismissed the alert and why.
fn dependabot_alert(inner: &Inner, v: &Value, full: bool) -> Map<String, Value> {
    let mut out = some(
        v,
        &[
            "number",
            "state",
            "html_url",
            "created_at",
            "updated_at",
            "fixed_at",
            "dismissed_at",
            "dismissed_reason",
            "auto_dismissed_at",
        ],
    );
    if let Some(dependency) = v.get("dependency").filter(|d| d.is_object()) {
        let mut d = some(dependency, &["manifest_path", "scope", "relationship"]);
        package(&mut d, dependency);
        out.insert("dependency".into(), Value::Object(d));
    }
    if let Some(advisory) = v.get("security_advisory").filter(|a| a.is_object()) {
        let mut a = some(advisory, &["ghsa_id", "cve_id", "severity"]);
        put(&mut a, "summary", marked(inner, advisory.get("summary"), None));
        part(&mut a, advisory, "cvss", &["score", "vector_string"]);
        if full {
            put(&mut a, "description", marked(inner, advisory.get("description"), None));
            a.extend(some(advisory, &["identifiers", "published_at", "updated_at", "withdrawn_at"]));
            let urls: Vec<Value> = advisory
                .get("references")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| r.get("url").cloned())
                .collect();
            a.insert("references".into(), Value::Array(urls));
            let cwes = advisory.get("cwes").map_or(json!([]), |c| list(c, |cwe| some(cwe, &["cwe_id", "name"])));
            a.insert("cwes".into(), cwes);
        }
        out.insert("security_advisory".into(), Value::Object(a));
    }
    if let Some(vulnerability) = v.get("security_vulnerability").filter(|x| x.is_object()) {
        let mut x = some(vulnerability, &["severity", "vulnerable_version_range"]);
        package(&mut x, vulnerability);
        part(&mut x, vulnerability, "first_patched_version", &["identifier"]);
        out.insert("security_vulnerability".into(), Value::Object(x));
    }
    if full {
        login(&mut out, v, "dismissed_by");
        put(&mut out, "dismissed_comment", marked(inner, v.get("dismissed_comment"), v.pointer("/dismissed_by/login")));
    }
    out
}

/// A secret scanning alert's essentials, the secret included (as GitHub's server has it).
fn secret_scanning_alert(inner: &Inner, v: &Value) -> Map<String, Value> {
    let mut out = some(
        v,
        &[
            "number",
            "state",
            "secret_type",
            "secret_type_display_name",
            "secret",
            "validity",
            "html_url",
            "created_at",
            "updated_at",
            "resolution",
            "resolved_at",
            "publicly_leaked",
            "multi_repo",
            "push_protection_bypassed",
            "has_more_locations",
        ],
    );
    login(&mut out, v, "resolved_by");
    put(&mut out, "resolution_comment", marked(inner, v.get("resolution_comment"), v.pointer("/resolved_by/login")));
    login(&mut out, v, "push_protection_bypassed_by");
    part(&mut out, v, "first_location_detected", &["path", "start_line", "end_line", "commit_sha"]);
    out
}

/// A global advisory's essentials; with `full`, its description, identifiers, references and
/// source.
fn global_advisory(inner: &Inner, v: &Value, full: bool) -> Map<String, Value> {
    let mut out =
        some(v, &["ghsa_id", "cve_id", "html_url", "type", "severity", "published_at", "updated_at", "withdrawn_at"]);
    put(&mut out, "summary", marked(inner, v.get("summary"), None));
    let vulnerabilities = v.get("vulnerabilities").map_or(json!([]), |list_| {
        list(list_, |x| {
            let mut out = some(x, &["vulnerable_version_range", "first_patched_version"]);
            package(&mut out, x);
            out
        })
    });
    out.insert("vulnerabilities".into(), vulnerabilities);
    part(&mut out, v, "cvss", &["score", "vector_string"]);
    let cwe_keys: &[&str] = if full { &["cwe_id", "name"] } else { &["cwe_id"] };
    if let Some(cwes) = v.get("cwes").filter(|c| c.is_array()) {
        out.insert("cwes".into(), list(cwes, |cwe| some(cwe, cwe_keys)));
    }
    if full {
        put(&mut out, "description", marked(inner, v.get("description"), None));
        out.extend(some(
            v,
            &["identifiers", "references", "source_code_location", "github_reviewed_at", "nvd_published_at"],
        ));
    }
    out
}

/// A repository advisory's essentials, its summary and description marked as its author's.
fn repository_advisory(inner: &Inner, v: &Value) -> Map<String, Value> {
    let mut out = some(
        v,
        &[
            "ghsa_id",
            "cve_id",
            "html_url",
            "state",
            "severity",
            "created_at",
            "updated_at",
            "published_at",
            "closed_at",
            "withdrawn_at",
            "cwe_ids",
        ],
    );
    login(&mut out, v, "author");
    login(&mut out, v, "publisher");
    let author = v.pointer("/author/login");
    put(&mut out, "summary", marked(inner, v.get("summary"), author));
    put(&mut out, "description", marked(inner, v.get("description"), author));
    let vulnerabilities = v.get("vulnerabilities").map_or(json!([]), |list_| {
        list(list_, |x| {
            let mut out = some(x, &["vulnerable_version_range", "patched_versions"]);
            package(&mut out, x);
            out
        })
    });
    out.insert("vulnerabilities".into(), vulnerabilities);
    part(&mut out, v, "cvss", &["score", "vector_string"]);
    out
}

/// The `after` cursor of the `next` page and the `before` cursor of the `prev` page, from
/// GitHub's `Link` header (cursor-paged endpoints such as Dependabot alerts).
pub(super) fn cursors(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let link = headers.get("link").and_then(|v| v.to_str().ok()).unwrap_or("");
    let (mut next, mut prev) = (None, None);
    for entry in link.split(',') {
        let Some((url, params)) = entry.split_once(';') else { continue };
        let url = url.trim().trim_start_matches('<').trim_end_matches('>');
        let query = url.split_once('?').map_or("", |(_, q)| q);
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| unescape(v)))
                .filter(|v| !v.is_empty())
        };
        if params.contains("rel=\"next\"") {
            next = param("after");
        } else if params.contains("rel=\"prev\"") {
            prev = param("before");
        }
    }
    (next, prev)
}

/// `text` percent-decoded (a cursor from a URL, sent back encoded once).
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_come_from_the_link_header_decoded() {
        let mut headers = HeaderMap::new();
        let link = "<https://api.github.com/repositories/1/dependabot/alerts?per_page=2&after=Y3Vyc29yOjI%3D>; rel=\"next\", \
                    <https://api.github.com/repositories/1/dependabot/alerts?per_page=2&before=Y3Vyc29yOjE%3D>; rel=\"prev\"";
        headers.insert("link", link.parse().expect("a header value"));
        assert_eq!(cursors(&headers), (Some("Y3Vyc29yOjI=".to_owned()), Some("Y3Vyc29yOjE=".to_owned())));
        assert_eq!(cursors(&HeaderMap::new()), (None, None));
        assert_eq!(unescape("a%2Cb%zz%"), "a,b%zz%");
    }
}
