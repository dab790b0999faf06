//! The servers' prompts and resources, relayed. Prompts are listed as `server__prompt`;
//! resources and templates keep their URIs, and a read goes to the server that lists the URI, or
//! else to the first whose template matches it. Each `prompts/get` and `resources/read` passes
//! the pipeline as a call of its kind ([`CallKind`]), so the policy, rate limits, validation,
//! audit, redaction and timeouts that govern the server's tools govern them too; a read passes it
//! as the tool `server__resources/read` with the argument `uri`. Lists show a principal what the
//! policy lets them get or read.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, PoisonError, Weak};

use async_trait::async_trait;
use mcp_core::naming::SEPARATOR;
use mcp_core::pipeline::{self, CallKind, ToolCall};
use mcp_core::protocol::{GetPromptResult, JsonObject, Prompt, Resource, ResourceContents, ResourceTemplate, Tool};
use mcp_core::registry::{PromptSource, ResourceProvider};
use mcp_core::supervised::Catalog;
use mcp_core::{ToolContext, ToolError};
use mcp_security::Subject;

use crate::{Current, State};

/// The gateway's prompt and resource source: whatever the state in force relays.
pub(crate) struct Relay {
    pub(crate) current: Weak<Current>,
}

impl Relay {
    fn state(&self) -> Option<Arc<State>> {
        self.current.upgrade().map(|current| current.get())
    }
}

/// The definition resource reads pass the pipeline with, made once.
fn read_definition() -> Arc<Tool> {
    static READ: OnceLock<Arc<Tool>> = OnceLock::new();
    READ.get_or_init(|| Arc::new(pipeline::read_definition())).clone()
}

/// The name a read of `server`'s resources passes the pipeline under.
fn read_name(server: &str) -> String {
    format!("{server}{SEPARATOR}{}", pipeline::READ_RESOURCE)
}

#[async_trait]
impl PromptSource for Relay {
    fn prompts_for(&self, principal: &str) -> Vec<Prompt> {
        let Some(state) = self.state() else { return Vec::new() };
        let mut prompts = Vec::new();
        for (server, catalog) in state.catalogs() {
            for prompt in &catalog.prompts {
                let exposed = format!("{server}{SEPARATOR}{}", prompt.name);
                let definition = pipeline::prompt_definition(prompt);
                if state.policy.visible(principal, server, &exposed, &definition) {
                    let mut prompt = prompt.clone();
                    prompt.name = exposed;
                    prompts.push(prompt);
                }
            }
        }
        prompts
    }

    async fn get(
        &self,
        name: &str,
        arguments: BTreeMap<String, String>,
        cx: &ToolContext,
    ) -> Option<Result<GetPromptResult, ToolError>> {
        let state = self.state()?;
        // The server whose name and one of whose prompts make up `name` (a server's own name may
        // hold the separator: every split is tried).
        let (server, prompt) = state.catalogs().into_iter().find_map(|(server, catalog)| {
            let own = name.strip_prefix(server)?.strip_prefix(SEPARATOR)?;
            Some((server, catalog.prompts.iter().find(|p| p.name == own)?.clone()))
        })?;
        let arguments: JsonObject = arguments.into_iter().map(|(k, v)| (k, v.into())).collect();
        let definition = Arc::new(pipeline::prompt_definition(&prompt));
        let call = ToolCall::for_request(CallKind::Prompt, server, name, definition, arguments, cx.clone());
        Some(pipeline::unrelayed(pipeline::run(&state.service, call).await))
    }
}

#[async_trait]
impl ResourceProvider for Relay {
    fn resources(&self) -> Vec<Resource> {
        Vec::new()
    }

    fn resources_for(&self, principal: &str) -> Vec<Resource> {
        let Some(state) = self.state() else { return Vec::new() };
        let definition = read_definition();
        let mut resources = Vec::new();
        for (server, catalog) in state.catalogs() {
            let exposed = read_name(server);
            for resource in &catalog.resources {
                let mut arguments = JsonObject::new();
                arguments.insert("uri".into(), resource.uri.clone().into());
                let subject = Subject {
                    principal,
                    server,
                    tool: pipeline::READ_RESOURCE,
                    exposed: &exposed,
                    definition: &definition,
                    arguments: Some(&arguments),
                };
                if state.policy.decide(&subject).allowed {
                    resources.push(resource.clone());
                }
            }
        }
        resources
    }

    fn templates_for(&self, principal: &str) -> Vec<ResourceTemplate> {
        let Some(state) = self.state() else { return Vec::new() };
        let definition = read_definition();
        let mut templates = Vec::new();
        for (server, catalog) in state.catalogs() {
            if state.policy.visible(principal, server, &read_name(server), &definition) {
                templates.extend(catalog.templates.iter().cloned());
            }
        }
        templates
    }

    async fn read(&self, _uri: &str) -> Option<Result<Vec<ResourceContents>, ToolError>> {
        None
    }

    async fn read_with(&self, uri: &str, cx: &ToolContext) -> Option<Result<Vec<ResourceContents>, ToolError>> {
        let state = self.state()?;
        let server = reader_of(&state.catalogs(), uri)?.to_owned();
        let mut arguments = JsonObject::new();
        arguments.insert("uri".into(), uri.into());
        let exposed = read_name(&server);
        let call =
            ToolCall::for_request(CallKind::Resource, &server, &exposed, read_definition(), arguments, cx.clone());
        let read: Result<mcp_core::protocol::ReadResourceResult, ToolError> =
            pipeline::unrelayed(pipeline::run(&state.service, call).await);
        Some(read.map(|r| r.contents))
    }
}

/// The server a read of `uri` goes to: the first that lists it, or else the first with a
/// template it matches.
fn reader_of<'a>(catalogs: &[(&'a str, Arc<Catalog>)], uri: &str) -> Option<&'a str> {
    let listed = catalogs.iter().find(|(_, c)| c.resources.iter().any(|r| r.uri == uri));
    let matched = || catalogs.iter().find(|(_, c)| c.templates.iter().any(|t| matches_template(&t.uri_template, uri)));
    listed.or_else(matched).map(|(server, _)| *server)
}

/// The longest URI matched against templates (a longer one is still read when a server lists it
/// as it is).
const MAX_TEMPLATE_URI: usize = 64 * 1024;

/// Whether `uri` is one `template` (RFC 6570) expands to. Literal text must match exactly; a
/// simple expression (`{id}`) stands for one or more characters other than `/`, `?` and `#`;
/// a reserved or fragment one (`{+path}`, `{#part}`) for any characters; a path, label,
/// parameter or query one (`{/a}`, `{.ext}`, `{;p}`, `{?q}`, `{&q}`) for nothing, or its
/// leading character and what follows up to the next `/` (for a query, up to `#`).
///
/// Decided from the end of the template back, in time linear in the URI's length for each part
/// (a client chooses the URI; a backtracking match could take exponential time).
pub(crate) fn matches_template(template: &str, uri: &str) -> bool {
    if uri.len() > MAX_TEMPLATE_URI {
        return false;
    }
    let mut parts: Vec<Result<&str, u8>> = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        if open > 0 {
            parts.push(Ok(&rest[..open]));
        }
        parts.push(Err(rest.as_bytes().get(open + 1).copied().unwrap_or(b'}')));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Ok(rest));
    }
    let bytes = uri.as_bytes();
    let n = bytes.len();
    // `fits[i]`: the parts after the current one match `uri[i..]` (at the end: only the empty rest).
    let mut fits: Vec<bool> = (0..=n).map(|i| i == n).collect();
    for part in parts.iter().rev() {
        // `first[i]`: the first `j >= i` where the later parts fit, or `n + 1`.
        let mut first = vec![n + 1; n + 2];
        for i in (0..=n).rev() {
            first[i] = if fits[i] { i } else { first[i + 1] };
        }
        let now: Vec<bool> = match *part {
            Ok(literal) => (0..=n)
                .map(|i| uri.get(i..).is_some_and(|r| r.starts_with(literal)) && fits[i + literal.len()])
                .collect(),
            Err(operator) => {
                let stops: &[u8] = match operator {
                    b'+' | b'#' => b"",
                    b'?' | b'&' => b"#",
                    _ => b"/?#",
                };
                // `end[i]`: where a value starting at `i` must end by (the next stop, or the end).
                let mut end = vec![n; n + 1];
                for i in (0..n).rev() {
                    end[i] = if stops.contains(&bytes[i]) { i } else { end[i + 1] };
                }
                let lead = matches!(operator, b'/' | b'.' | b';' | b'?' | b'&');
                (0..=n)
                    .map(|i| {
                        if !uri.is_char_boundary(i) {
                            false
                        } else if lead {
                            // Nothing, or its leading character then a value up to a stop.
                            fits[i] || (bytes.get(i) == Some(&operator) && first[i + 1] <= end[i + 1])
                        } else if matches!(operator, b'+' | b'#') {
                            first[i] <= n
                        } else {
                            // One character or more, up to a stop.
                            i < n && first[i + 1] <= end[i]
                        }
                    })
                    .collect()
            }
        };
        fits = now;
    }
    fits[0]
}

impl State {
    /// The prompts, resources and templates of each server, by name: the upstream servers' as
    /// last listed (in configuration order), then the native servers'.
    fn catalogs(&self) -> Vec<(&str, Arc<Catalog>)> {
        let mut catalogs: Vec<(&str, Arc<Catalog>)> = self.upstreams.iter().map(|u| (u.name(), u.catalog())).collect();
        for (name, registry) in &self.native {
            let mut catalog = Catalog::default();
            catalog.prompts = registry.prompts.values().map(|p| p.definition().clone()).collect();
            catalog.resources = registry.resources.iter().flat_map(|r| r.resources()).collect();
            catalog.templates = registry.resources.iter().flat_map(|r| r.templates()).collect();
            catalogs.push((name.as_str(), Arc::new(catalog)));
        }
        catalogs
    }

    /// What the relayed prompts and resource reads pass the pipeline as: (server, its own name,
    /// the exposed name), for the servers that have listed them.
    pub(crate) fn relayed_names(&self) -> Vec<(String, String, String)> {
        let mut names = Vec::new();
        for (server, catalog) in self.catalogs() {
            for prompt in &catalog.prompts {
                names.push((server.to_owned(), prompt.name.clone(), format!("{server}{SEPARATOR}{}", prompt.name)));
            }
            if !catalog.resources.is_empty() || !catalog.templates.is_empty() {
                names.push((server.to_owned(), pipeline::READ_RESOURCE.to_owned(), read_name(server)));
            }
        }
        names
    }

    /// Tells clients that the relayed prompts or resources changed since the last look: a
    /// server's list changed, it started, or it was (re)configured.
    pub(crate) fn announce_relayed(&self) {
        let catalogs: Vec<(String, Arc<Catalog>)> =
            self.upstreams.iter().map(|u| (u.name().to_owned(), u.catalog())).collect();
        let mut seen = self.relayed.lock().unwrap_or_else(PoisonError::into_inner);
        let same_servers = seen.len() == catalogs.len() && seen.iter().zip(&catalogs).all(|(a, b)| a.0 == b.0);
        let (mut prompts, mut resources) = (!same_servers, !same_servers);
        if same_servers {
            for ((_, was), (_, now)) in seen.iter().zip(&catalogs) {
                if !Arc::ptr_eq(was, now) {
                    prompts |= was.prompts != now.prompts;
                    resources |= was.resources != now.resources || was.templates != now.templates;
                }
            }
        }
        *seen = catalogs;
        drop(seen);
        if let Some(server) = self.server.get() {
            if prompts {
                server.notify_prompts_changed();
            }
            if resources {
                server.notify_resources_changed();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches_template;

    #[test]
    fn uris_match_the_templates_that_expand_to_them() {
        let yes = [
            ("demo://resource/dynamic/text/{resourceId}", "demo://resource/dynamic/text/42"),
            ("file:///{+path}", "file:///etc/hosts"),
            ("repo://{owner}/{repo}/contents{/path}", "repo://a/b/contents"),
            ("repo://{owner}/{repo}/contents{/path}", "repo://a/b/contents/src"),
            ("search://items{?q,limit}", "search://items?q=x&limit=2"),
            ("search://items{?q,limit}", "search://items"),
            ("users://{id}/profile", "users://7/profile"),
        ];
        for (template, uri) in yes {
            assert!(matches_template(template, uri), "{template} should match {uri}");
        }
        let no = [
            ("demo://resource/dynamic/text/{resourceId}", "demo://resource/dynamic/text/"),
            ("demo://resource/dynamic/text/{resourceId}", "demo://resource/dynamic/text/4/2"),
            ("demo://resource/dynamic/text/{resourceId}", "demo://resource/dynamic/blob/4"),
            ("users://{id}/profile", "users://7/settings"),
            ("file:///{+path}", "http://example.com/"),
            ("exact://only", "exact://only/more"),
            ("search://items{?q,limit}", "search://itemsX"),
        ];
        for (template, uri) in no {
            assert!(!matches_template(template, uri), "{template} should not match {uri}");
        }
    }

    #[test]
    fn a_long_uri_against_many_expressions_is_decided_without_blowing_up() {
        // A backtracking match tries every split of the URI among the expressions.
        let template = "x://{+a}{+b}{+c}{+d}{+e}{+f}{g}!";
        let uri = format!("x://{}", "a".repeat(60_000));
        assert!(!matches_template(template, &uri));
        assert!(matches_template(template, &format!("{uri}!")));
        assert!(!matches_template("x://{+a}", &format!("x://{}", "a".repeat(70_000))), "past the bound");
    }
}
