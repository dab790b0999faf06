//! The servers' prompts and resources, relayed. Prompts are listed as `server__prompt`;
//! resources and templates keep their URIs, and a read goes to the server that lists the URI, or
//! else to the one whose template fits it best ([`reader_of`]). Each `prompts/get` and `resources/read` passes
//! the pipeline as a call of its kind ([`CallKind`]), so the policy, rate limits, validation,
//! audit, redaction and timeouts that govern the server's tools govern them too; a read passes it
//! as the tool `server__resources/read` with the argument `uri`. Lists show a principal what the
//! policy lets them get or read, completions of their arguments are asked of their server
//! ([`Relay::complete`]), and subscriptions to resources are relayed where their reads go
//! ([`Subscriptions`]).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, PoisonError, Weak};

use async_trait::async_trait;
use mcp_core::naming::SEPARATOR;
use mcp_core::pipeline::{self, CallKind, ToolCall};
use mcp_core::protocol::{
    CompleteParams, Completion, CompletionReference, ErrorObject, GetPromptResult, JsonObject, Prompt, Resource,
    ResourceContents, ResourceTemplate, Tool,
};
use mcp_core::registry::{PromptSource, ResourceProvider};
use mcp_core::supervised::Catalog;
use mcp_core::{ToolContext, ToolError};
use mcp_security::Subject;

use crate::{Current, State, config};

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

/// The arguments a completion's `context` gives (`{"arguments": {...}}`), as strings.
fn context_arguments(context: Option<&JsonObject>) -> JsonObject {
    let given = context.and_then(|c| c.get("arguments")).and_then(serde_json::Value::as_object);
    given
        .map(|given| pipeline::prompt_arguments(given).into_iter().map(|(k, v)| (k, v.into())).collect())
        .unwrap_or_default()
}

/// Every relayed prompt with the name it is listed under, and its server: `server__prompt`; when
/// an earlier server's prompt already goes by that name (servers `a` and `a__b`, say, with the
/// prompts `b__x` and `x`), that name with 8 hex digits of a hash of the server and prompt
/// appended. No two prompts are listed under one name, and each name is the same at every look
/// while the servers and their prompts are.
fn exposed_prompts<'c, 's>(catalogs: &'c [(&'s str, Arc<Catalog>)]) -> Vec<(String, &'s str, &'c Prompt)> {
    let mut taken = std::collections::HashSet::new();
    let mut exposed = Vec::new();
    for (server, catalog) in catalogs {
        for prompt in &catalog.prompts {
            let plain = format!("{server}{SEPARATOR}{}", prompt.name);
            let mut name = plain.clone();
            let mut attempt = 0;
            while taken.contains(&name) {
                name = mcp_core::naming::hashed(&plain, server, &prompt.name, attempt);
                attempt += 1;
            }
            taken.insert(name.clone());
            exposed.push((name, *server, prompt));
        }
    }
    exposed
}

/// The prompt listed as `name`, and its server.
fn prompt_named<'a>(catalogs: &[(&'a str, Arc<Catalog>)], name: &str) -> Option<(&'a str, Prompt)> {
    exposed_prompts(catalogs)
        .into_iter()
        .find(|(exposed, ..)| exposed == name)
        .map(|(_, server, p)| (server, p.clone()))
}

impl Relay {
    /// The gateway's `completion/complete`: see [`Relay::complete`].
    pub(crate) fn completer(current: Weak<Current>) -> mcp_core::Completer {
        Arc::new(move |params, cx| {
            let relay = Relay { current: current.clone() };
            Box::pin(async move { relay.complete(params, &cx).await })
        })
    }

    /// Suggestions for an argument of a relayed prompt or template, asked of the server that
    /// offers it, with the prompt under its own name there. What a caller is listed it may
    /// complete: a prompt or template hidden from them is unknown to them. The server's timeout
    /// bounds the wait, and the values are masked as results are. Completions are suggestions
    /// a client asks for as its user types: they pass no rate limit and leave no audit record
    /// (getting the prompt or reading the resource then does both). A server that offers no
    /// completions, and a native server, suggest nothing.
    async fn complete(&self, mut params: CompleteParams, cx: &ToolContext) -> Result<Completion, ErrorObject> {
        let Some(state) = self.state() else {
            return Err(ErrorObject::internal("the gateway is stopping"));
        };
        let principal = cx.principal().unwrap_or("anonymous");
        let catalogs = state.catalogs();
        let server = match &mut params.reference {
            CompletionReference::Prompt { name } => {
                let unknown = || ErrorObject::invalid_params(format!("unknown prompt `{name}`"));
                let Some((server, prompt)) = prompt_named(&catalogs, name) else { return Err(unknown()) };
                let definition = state.prompt_definition(name, &prompt);
                if !state.policy.visible(principal, server, name, &definition) {
                    return Err(unknown());
                }
                // The arguments given so far, and the one being typed, as a get with them
                // would be decided: no suggestions for what the caller could not get.
                let mut arguments: JsonObject = context_arguments(params.context.as_ref());
                arguments.insert(params.argument.name.clone(), params.argument.value.clone().into());
                let subject = Subject {
                    principal,
                    server,
                    tool: &prompt.name,
                    exposed: name,
                    definition: &definition,
                    arguments: Some(&arguments),
                };
                if let Err(decision) = state.policy.allows(&subject) {
                    return Err(ErrorObject::internal(format!(
                        "denied by policy rule `{}`: {}",
                        decision.rule, decision.reason
                    )));
                }
                *name = prompt.name;
                server
            }
            CompletionReference::Resource { uri } => {
                // A template, as its servers list it (or a resource they list).
                let offering: Vec<&str> = catalogs
                    .iter()
                    .filter(|(_, c)| {
                        c.templates.iter().any(|t| t.uri_template == *uri) || c.resources.iter().any(|r| r.uri == *uri)
                    })
                    .map(|(server, _)| *server)
                    .collect();
                let listed = catalogs.iter().any(|(_, c)| c.resources.iter().any(|r| r.uri == *uri));
                let unknown = || ErrorObject::invalid_params(format!("no resource template `{uri}`"));
                let server = match offering.as_slice() {
                    [server] => *server,
                    [] => return Err(unknown()),
                    several => {
                        let servers = several.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
                        return Err(ErrorObject::invalid_params(format!(
                            "cannot complete for `{uri}`: the servers {servers} all offer it"
                        )));
                    }
                };
                // A resource is decided on its URI, as its listing is; a template as its listing.
                let shown = if listed {
                    may_read(&state, principal, server, uri).is_ok()
                } else {
                    state.policy.visible(principal, server, &read_name(server), &read_definition())
                };
                if !shown {
                    return Err(unknown());
                }
                server
            }
        };
        // Native servers answer in this process, and complete nothing.
        let Some(upstream) = state.upstreams.iter().find(|u| u.name() == server) else {
            return Ok(Completion::default());
        };
        let (default, per_server) = &state.timeouts;
        let within = per_server.get(server).copied().unwrap_or(*default);
        let completion = tokio::select! {
            completion = upstream.complete(&params, within) => completion.map_err(|e| state.masked_error(e))?,
            () = cx.cancelled().cancelled() => return Err(ErrorObject::internal("cancelled by the client")),
        };
        let Completion { values, total, has_more, .. } = completion;
        // As many as the server sent: the server's answer is cut to the protocol's bound, and
        // then says there are more.
        let mut completion = Completion::new(Vec::new());
        (completion.values, completion.total, completion.has_more) =
            (values.into_iter().filter_map(|value| state.masked_text(value)).collect(), total, has_more);
        Ok(completion)
    }
}

#[async_trait]
impl PromptSource for Relay {
    fn prompts_for(&self, principal: &str) -> Vec<Prompt> {
        let Some(state) = self.state() else { return Vec::new() };
        let mut prompts = Vec::new();
        for (exposed, server, prompt) in exposed_prompts(&state.catalogs()) {
            let definition = pipeline::prompt_definition(prompt);
            if state.policy.visible(principal, server, &exposed, &definition) {
                let mut prompt = prompt.clone();
                prompt.name = exposed;
                prompts.push(prompt);
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
        let (server, prompt) = prompt_named(&state.catalogs(), name)?;
        let arguments: JsonObject = arguments.into_iter().map(|(k, v)| (k, v.into())).collect();
        let definition = state.prompt_definition(name, &prompt);
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
        let mut resources = Vec::new();
        for (server, catalog) in state.catalogs() {
            for resource in &catalog.resources {
                if may_read(&state, principal, server, &resource.uri).is_ok() {
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
        let (server, sent) = match route(&state.catalogs(), uri) {
            Ok(routed) => routed?,
            Err(refused) => return Some(Err(refused)),
        };
        let mut arguments = JsonObject::new();
        arguments.insert("uri".into(), sent.into());
        let exposed = read_name(&server);
        let call =
            ToolCall::for_request(CallKind::Resource, &server, &exposed, read_definition(), arguments, cx.clone());
        let read: Result<mcp_core::protocol::ReadResourceResult, ToolError> =
            pipeline::unrelayed(pipeline::run(&state.service, call).await);
        Some(read.map(|r| r.contents))
    }

    /// A subscription is relayed to the server a read of the URI goes to, when the caller may
    /// read it; the server is asked once however many clients subscribe, and told when the last
    /// one is gone. A URI keeps the route its first subscription took while it is held.
    async fn subscribe(&self, uri: &str, cx: &ToolContext) -> Option<Result<(), ToolError>> {
        let current = self.current.upgrade()?;
        let state = current.get();
        let refused = |error: ErrorObject| Some(Err(ToolError::protocol(state.masked_error(error))));
        let held = current.subscriptions.held().get(uri).cloned();
        let (server, sent) = match held {
            Some(route) => route,
            None => match route(&state.catalogs(), uri) {
                Ok(Some(routed)) => routed,
                Ok(None) => return refused(ErrorObject::invalid_params(format!("no server offers `{uri}`"))),
                Err(e) => return Some(Err(e)),
            },
        };
        if let Err(denied) = may_read(&state, cx.principal().unwrap_or("anonymous"), &server, &sent) {
            return refused(ErrorObject::invalid_params(format!("cannot subscribe to `{uri}`: {denied}")));
        }
        let Some(upstream) = state.upstreams.iter().find(|u| u.name() == server) else {
            return refused(ErrorObject::invalid_params(format!("server `{server}` sends no resource updates")));
        };
        // Recorded before the server is asked, so that an unsubscribe of the last holder that
        // is still under way sees it wanted again. A refused one is let go by the server, which
        // tells `unsubscribed` when it was the last.
        current.subscriptions.held().entry(uri.to_owned()).or_insert_with(|| (server.clone(), sent.clone()));
        if let Err(error) = upstream.subscribe(&sent).await {
            return refused(error);
        }
        Some(Ok(()))
    }

    /// Decided on each update as a read of the URI would be, by the policy in force now: a
    /// reload whose policy refuses the read stops the updates (the subscription stays until its
    /// client ends it, and its updates come again should a later policy allow the read).
    /// Every update the gateway sends is of a URI it relays (the only provider of its
    /// resources): one it no longer holds, or whose kind `relay` turned off, reaches nobody.
    fn update_reaches(&self, uri: &str, principal: &str) -> Option<bool> {
        let current = self.current.upgrade()?;
        let held = current.subscriptions.held().get(uri).cloned();
        let Some((server, sent)) = held else { return Some(false) };
        let state = current.get();
        if !state.relay.resources {
            return Some(false);
        }
        Some(read_subject(principal, &server, &sent, |subject| state.policy.allows(subject).is_ok()))
    }

    fn unsubscribed(&self, uri: &str) {
        let Some(current) = self.current.upgrade() else { return };
        let Some((server, sent)) = current.subscriptions.held().remove(uri) else { return };
        let Some(upstream) = current.get().upstreams.iter().find(|u| u.name() == server).cloned() else { return };
        // Another URI naming the same resource, or a client that subscribed again while this was
        // on its way, keeps the server's subscription.
        let current = Arc::downgrade(&current);
        let sent_again = sent.clone();
        let wanted = move || current.upgrade().is_some_and(|c| c.subscriptions.sent_to(&server).contains(&sent_again));
        upstream.unsubscribe(&sent, wanted);
    }
}

/// The server a read of `uri` goes to, and the URI it is asked for: a URI a server lists, as
/// listed (it was listed by the same decision); any other in its normal form, which the policy
/// then decides on. `Ok(None)`: no server's.
fn route(catalogs: &[(&str, Arc<Catalog>)], uri: &str) -> Result<Option<(String, String)>, ToolError> {
    match listers(catalogs, uri).as_slice() {
        [server] => Ok(Some((server.to_string(), uri.to_owned()))),
        [] => {
            let refused = |why: String| ToolError::invalid_params(format!("cannot read `{uri}`: {why}"));
            let normal = normalize_uri(uri).map_err(refused)?;
            let server = reader_of(catalogs, &normal).map_err(refused)?;
            Ok(server.map(|server| (server.to_owned(), normal)))
        }
        several => Err(ambiguous(uri, several)),
    }
}

/// Whether `principal` may read `sent` (as the server is asked for it) of `server`, as the
/// pipeline decides a read: `Err` says which rule refuses it.
fn may_read(state: &State, principal: &str, server: &str, sent: &str) -> Result<(), String> {
    read_subject(principal, server, sent, |subject| match state.policy.allows(subject) {
        Ok(_) => Ok(()),
        Err(decision) => Err(format!("denied by policy rule `{}`: {}", decision.rule, decision.reason)),
    })
}

/// `decide` told what a read of `sent` (as the server is asked for it) of `server` by
/// `principal` is, for the policy.
fn read_subject<T>(principal: &str, server: &str, sent: &str, decide: impl FnOnce(&Subject<'_>) -> T) -> T {
    let definition = read_definition();
    let exposed = read_name(server);
    let mut arguments = JsonObject::new();
    arguments.insert("uri".into(), sent.into());
    decide(&Subject {
        principal,
        server,
        tool: pipeline::READ_RESOURCE,
        exposed: &exposed,
        definition: &definition,
        arguments: Some(&arguments),
    })
}

/// The resource subscriptions the gateway's clients hold, relayed to the servers: each URI as
/// the clients named it, with the server it is subscribed at and the URI it was sent as (the
/// normal form of an unlisted one). Kept across reloads.
#[derive(Default)]
pub(crate) struct Subscriptions {
    by_uri: std::sync::Mutex<BTreeMap<String, (String, String)>>,
}

impl Subscriptions {
    fn held(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (String, String)>> {
        self.by_uri.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The URIs, as clients named them, that an update of `sent` at `server` concerns.
    pub(crate) fn named(&self, server: &str, sent: &str) -> Vec<String> {
        let held = self.held();
        held.iter().filter(|(_, (s, u))| s == server && u == sent).map(|(uri, _)| uri.clone()).collect()
    }

    /// What is subscribed at `server`, as sent to it.
    pub(crate) fn sent_to(&self, server: &str) -> std::collections::BTreeSet<String> {
        let held = self.held();
        held.values().filter(|(s, _)| s == server).map(|(_, sent)| sent.clone()).collect()
    }
}

/// A read of `uri`, which several `servers` could answer, refused: no server takes another's reads
/// by claiming its URIs.
fn ambiguous(uri: &str, servers: &[&str]) -> ToolError {
    let servers = servers.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
    ToolError::invalid_params(format!(
        "cannot read `{uri}`: the servers {servers} all claim it (each lists it, or has a template that fits it as \
         closely); turn `relay.resources` off or leave one of them out"
    ))
}

/// The server a read of `uri` (not listed as it is) goes to: the one that lists its normal form;
/// else the one with the most specific template it matches (the most literal text, so that
/// `repo://{+uri}` takes no read that `repo://{owner}/{repo}/contents{/path*}` fits); else the
/// only server with resources at all (a URI a tool's result linked to, say). `Ok(None)`: no
/// server; `Err`: several claim it equally.
fn reader_of<'a>(catalogs: &[(&'a str, Arc<Catalog>)], uri: &str) -> Result<Option<&'a str>, String> {
    match listers(catalogs, uri).as_slice() {
        [server] => return Ok(Some(server)),
        [] => {}
        several => return Err(ambiguous(uri, several).to_string()),
    }
    let mut best: Vec<&'a str> = Vec::new();
    let mut most = 0;
    for (server, catalog) in catalogs {
        for template in &catalog.templates {
            let literal = literal_len(&template.uri_template);
            if literal >= most && matches_template(&template.uri_template, uri) {
                if literal > most {
                    (most, best) = (literal, Vec::new());
                }
                if !best.contains(server) {
                    best.push(server);
                }
            }
        }
    }
    match best.as_slice() {
        [server] => return Ok(Some(server)),
        [] => {}
        several => return Err(ambiguous(uri, several).to_string()),
    }
    let mut offering = catalogs.iter().filter(|(_, c)| !c.resources.is_empty() || !c.templates.is_empty());
    Ok(match (offering.next(), offering.next()) {
        (Some((server, _)), None) => Some(server),
        _ => None,
    })
}

/// The catalog of `server` in `list`, or `none`.
fn catalog_of<'a>(list: &'a [(String, Arc<Catalog>)], server: &str, none: &'a Catalog) -> &'a Catalog {
    list.iter().find(|(name, _)| name == server).map_or(none, |(_, catalog)| catalog)
}

/// The servers that list `uri` as it is.
fn listers<'a>(catalogs: &[(&'a str, Arc<Catalog>)], uri: &str) -> Vec<&'a str> {
    catalogs.iter().filter(|(_, c)| c.resources.iter().any(|r| r.uri == uri)).map(|(server, _)| *server).collect()
}

/// How much of `template` is literal text, outside its expressions.
fn literal_len(template: &str) -> usize {
    let mut depth = 0usize;
    template
        .chars()
        .filter(|c| {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                _ => return depth == 0,
            }
            false
        })
        .count()
}

/// The URI a read is decided on and made with: percent-encoded unreserved characters decoded
/// (`%2E` is `.`), `.` and `..` path segments removed, the fragment (which is the client's,
/// never the server's) and an empty query dropped, the scheme and host in lower case, and a
/// `file:` URI in the one form `file:///path` (`file:/path` and `file://localhost/path` read the
/// same file). What would still mean different things to different servers is refused, naming
/// it: a `file:` URI of another host, or with an encoded `/`, `\` or NUL in its path; white
/// space, a backslash or a control character; a `%` not followed by two hex digits. A deny
/// rule's glob then sees the URI the server is asked for (a query stays: end a glob in `*` to
/// cover one).
pub(crate) fn normalize_uri(uri: &str) -> Result<String, String> {
    if let Some(c) = uri.chars().find(|c| c.is_control() || c.is_whitespace() || *c == '\\') {
        return Err(format!("the URI holds {c:?}, which servers do not read alike"));
    }
    let uri = uri.split('#').next().unwrap_or_default();
    let (head, query) = match uri.split_once('?') {
        Some((head, query)) => (head, Some(query).filter(|q| !q.is_empty())),
        None => (uri, None),
    };
    let Some((scheme, rest)) = head.split_once(':') else {
        return Err("the URI has no scheme (`file:`, `https:`, ...)".into());
    };
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid {
        return Err(format!("the URI's scheme `{scheme}` is not a scheme"));
    }
    let scheme = scheme.to_ascii_lowercase();
    let file = scheme == "file";
    let (authority, path) = match rest.strip_prefix("//") {
        Some(after) => match after.find('/') {
            Some(slash) => (Some(&after[..slash]), &after[slash..]),
            None => (Some(after), ""),
        },
        None => (None, rest),
    };
    // The host (after any user info) in lower case.
    let authority = authority
        .map(|authority| -> Result<String, String> {
            let authority = decode_unreserved(authority, false)?;
            Ok(match authority.rsplit_once('@') {
                Some((user, host)) => format!("{user}@{}", host.to_ascii_lowercase()),
                None => authority.to_ascii_lowercase(),
            })
        })
        .transpose()?;
    let mut normal = scheme;
    normal.push(':');
    match authority {
        // A file on this machine: `file:///path`, whatever the spelling.
        Some(host) if file && !(host.is_empty() || host == "localhost") => {
            return Err(format!("the URI names a file on the host `{host}`, which is not this machine"));
        }
        _ if file => normal.push_str("//"),
        Some(authority) => {
            normal.push_str("//");
            normal.push_str(&authority);
        }
        None => {}
    }
    let mut path = remove_dot_segments(&decode_unreserved(path, file)?);
    if file && !path.starts_with('/') {
        path.insert(0, '/');
    }
    // A path without an authority that now starts with `//` would read as one (RFC 3986, 5.3).
    if normal.ends_with(':') && path.starts_with("//") {
        path.insert_str(0, "/.");
    }
    normal.push_str(&path);
    if let Some(query) = query {
        normal.push('?');
        normal.push_str(&decode_unreserved(query, false)?);
    }
    Ok(normal)
}

/// `text` with its percent-encoded unreserved characters decoded (the rest kept as written); in
/// a file's path (`file_path`), an encoded `/`, `\` or NUL is refused.
fn decode_unreserved(text: &str, file_path: bool) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let hex = rest.get(at + 1..at + 3).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(hex) = hex else { return Err("the URI has a `%` not followed by two hex digits".into()) };
        let byte = u8::from_str_radix(hex, 16).unwrap_or_default();
        if file_path && matches!(byte, b'/' | b'\\' | 0) {
            return Err(format!(
                "the file URI's path has `%{hex}` (an encoded `/`, `\\` or NUL), which servers read differently"
            ));
        }
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push_str(hex);
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `path` without `.` and `..` segments (RFC 3986, 5.2.4): `..` above the root stays at the root.
fn remove_dot_segments(path: &str) -> String {
    let absolute = path.starts_with('/');
    let segments: Vec<&str> = path.split('/').skip(usize::from(absolute)).collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." | ".." => {
                if *segment == ".." {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    if absolute { format!("/{joined}") } else { joined }
}

/// The longest URI matched against templates (a longer one is still read when a server lists it
/// as it is): each part of a template takes a few words of memory per byte of the URI.
const MAX_TEMPLATE_URI: usize = 8 * 1024;

/// Whether `uri` is one `template` (RFC 6570) expands to. Literal text must match exactly; a
/// simple expression (`{id}`) stands for one or more characters other than `/`, `?` and `#`;
/// a reserved or fragment one (`{+path}`, `{#part}`) for any characters; a path, label,
/// parameter or query one (`{/a}`, `{.ext}`, `{;p}`, `{?q}`, `{&q}`) for nothing, or its
/// leading character and what follows up to the next `/` (for a query, up to `#`; for a path
/// expression of several values, `{/path*}`, up to `?` or `#`).
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
        let body = &rest[open + 1..open + close];
        // A path expression of several values (`{/path*}`, `{/a,b}`) spans several segments.
        let operator = match body.as_bytes().first().copied().unwrap_or(b'}') {
            b'/' if body.contains(['*', ',']) => b'*',
            operator => operator,
        };
        parts.push(Err(operator));
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
                    b'*' => b"?#",
                    _ => b"/?#",
                };
                // Several path segments lead with `/` as one does.
                let operator = if operator == b'*' { b'/' } else { operator };
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
    /// A server's error as a client of the gateway gets it: masked as results are.
    fn masked_error(&self, mut error: ErrorObject) -> ErrorObject {
        error.message = self.masked_text(std::mem::take(&mut error.message)).unwrap_or_default();
        if let (Some(mask), Some(data)) = (&self.log_mask, error.data.as_mut()) {
            mask(data);
        }
        error
    }

    /// `text` masked as results are; `None` when the mask makes it something other than a text.
    pub(crate) fn masked_text(&self, text: String) -> Option<String> {
        let Some(mask) = &self.log_mask else { return Some(text) };
        let mut text = serde_json::Value::String(text);
        mask(&mut text);
        match text {
            serde_json::Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// The prompts, resources and templates relayed of each server, by name: the upstream
    /// servers' as last listed (in the order of their names), then the native servers'; none of
    /// a kind `relay` turns off.
    fn catalogs(&self) -> Vec<(&str, Arc<Catalog>)> {
        let mut catalogs: Vec<(&str, Arc<Catalog>)> = self.upstreams.iter().map(|u| (u.name(), u.catalog())).collect();
        for (name, registry) in &self.native {
            let mut catalog = Catalog::default();
            catalog.prompts = registry.prompts.values().map(|p| p.definition().clone()).collect();
            catalog.resources = registry.resources.iter().flat_map(|r| r.resources()).collect();
            catalog.templates = registry.resources.iter().flat_map(|r| r.templates()).collect();
            catalogs.push((name.as_str(), Arc::new(catalog)));
        }
        let config::RelayConfig { prompts, resources } = self.relay;
        if !(prompts && resources) {
            for (_, catalog) in &mut catalogs {
                let mut kept = Catalog::clone(catalog);
                if !prompts {
                    kept.prompts.clear();
                }
                if !resources {
                    kept.resources.clear();
                    kept.templates.clear();
                }
                *catalog = Arc::new(kept);
            }
        }
        catalogs
    }

    /// What the relayed prompts and resource reads pass the pipeline as: (server, the exposed
    /// name, the definition), for the servers that have listed them.
    pub(crate) fn relayed_definitions(&self) -> Vec<(String, String, Arc<Tool>)> {
        let catalogs = self.catalogs();
        let mut relayed = Vec::new();
        for (exposed, server, prompt) in exposed_prompts(&catalogs) {
            let definition = self.prompt_definition(&exposed, prompt);
            relayed.push((server.to_owned(), exposed, definition));
        }
        for (server, catalog) in &catalogs {
            if !catalog.resources.is_empty() || !catalog.templates.is_empty() {
                relayed.push((server.to_string(), read_name(server), read_definition()));
            }
        }
        relayed
    }

    /// The definition the prompt exposed as `exposed` passes the pipeline with: the same shared
    /// one while the prompt is unchanged, so that its compiled schema is kept.
    fn prompt_definition(&self, exposed: &str, prompt: &Prompt) -> Arc<Tool> {
        let fresh = pipeline::prompt_definition(prompt);
        let mut known = self.prompt_definitions.lock().unwrap_or_else(PoisonError::into_inner);
        match known.get(exposed) {
            Some(same) if **same == fresh => same.clone(),
            _ => {
                let definition = Arc::new(fresh);
                known.insert(exposed.to_owned(), definition.clone());
                definition
            }
        }
    }

    /// Tells clients that the relayed prompts or resources changed since the last look: a
    /// server's list changed, it started, or it was (re)configured.
    pub(crate) fn announce_relayed(&self) {
        let listed = self.catalogs();
        // The shared definitions of prompts no longer relayed go.
        let relayed: std::collections::HashSet<String> =
            exposed_prompts(&listed).into_iter().map(|(exposed, ..)| exposed).collect();
        let catalogs: Vec<(String, Arc<Catalog>)> =
            listed.into_iter().map(|(server, catalog)| (server.to_owned(), catalog)).collect();
        self.prompt_definitions.lock().unwrap_or_else(PoisonError::into_inner).retain(|name, _| relayed.contains(name));
        let mut seen = self.relayed.lock().unwrap_or_else(PoisonError::into_inner);
        // Server by server, one that was not there (or is no more) counting as one with nothing.
        let none = Catalog::default();
        let (mut prompts, mut resources) = (false, false);
        for server in seen.iter().chain(&catalogs).map(|(name, _)| name.as_str()) {
            let (was, now) = (catalog_of(&seen, server, &none), catalog_of(&catalogs, server, &none));
            if !std::ptr::eq(was, now) {
                prompts |= was.prompts != now.prompts;
                resources |= was.resources != now.resources || was.templates != now.templates;
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
    use std::sync::Arc;

    use mcp_core::protocol::Prompt;
    use mcp_core::supervised::Catalog;

    use super::{exposed_prompts, matches_template, normalize_uri, prompt_named};

    #[test]
    fn prompts_whose_plain_names_collide_are_listed_under_distinct_names() {
        // `a`'s `b__x` and `a__b`'s `x` would both be `a__b__x`; `c` lists `x` twice.
        let catalog = |names: &[&str]| {
            let mut catalog = Catalog::default();
            catalog.prompts = names.iter().map(|n| Prompt::new(*n, Vec::new())).collect();
            Arc::new(catalog)
        };
        let catalogs = vec![("a", catalog(&["b__x", "y"])), ("a__b", catalog(&["x"])), ("c", catalog(&["x", "x"]))];
        let exposed: Vec<(String, &str, String)> =
            exposed_prompts(&catalogs).into_iter().map(|(e, s, p)| (e, s, p.name.clone())).collect();
        let names: std::collections::HashSet<&str> = exposed.iter().map(|(e, ..)| e.as_str()).collect();
        assert_eq!(names.len(), exposed.len(), "no name twice: {exposed:?}");
        assert_eq!(exposed[0], ("a__b__x".to_owned(), "a", "b__x".to_owned()), "the first keeps the plain name");
        assert_eq!(exposed[1].0, "a__y");
        let second = &exposed[2];
        assert!(second.0.starts_with("a__b__x_") && second.0.len() == "a__b__x_".len() + 8, "{second:?}");
        assert_eq!(exposed[3].0, "c__x");
        // Each name leads back to its own server and prompt, the same at every look.
        for (name, server, prompt) in &exposed[..4] {
            let (found, got) = prompt_named(&catalogs, name).expect("found");
            assert_eq!((found, got.name.as_str()), (*server, prompt.as_str()), "{name}");
        }
        assert_eq!(exposed_prompts(&catalogs).into_iter().map(|(e, ..)| e).collect::<Vec<_>>().len(), 5);
        assert_eq!(exposed_prompts(&catalogs)[2].0, second.0, "stable");
    }

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
    fn a_path_expression_of_several_values_spans_segments() {
        let template = "repo://{owner}/{repo}/contents{/path*}";
        assert!(matches_template(template, "repo://a/b/contents/src/main.rs"));
        assert!(matches_template(template, "repo://a/b/contents"));
        assert!(!matches_template(template, "repo://a/b/contents/src?x"));
        assert!(matches_template("x://{/a,b}", "x:///one/two"));
        assert!(!matches_template("x://{/a}", "x:///one/two"));
    }

    #[test]
    fn a_uri_is_decided_on_in_the_form_a_server_reads_it() {
        let normal = |uri: &str| normalize_uri(uri).expect(uri);
        assert_eq!(normal("file:///srv/docs/../../etc/passwd"), "file:///etc/passwd");
        assert_eq!(normal("file:///srv/%2e%2e/etc/%70asswd"), "file:///etc/passwd");
        assert_eq!(normal("file:///srv/./.env#top"), "file:///srv/.env");
        // One file, three spellings.
        assert_eq!(normal("file:/srv/app/.env"), "file:///srv/app/.env");
        assert_eq!(normal("file://LocalHost/srv/app/.env"), "file:///srv/app/.env");
        assert_eq!(normal("FILE:///srv/a%20b/?"), "file:///srv/a%20b/");
        assert_eq!(normal("demo://res/x/.."), "demo://res/");
        assert_eq!(normal("file:///../../x"), "file:///x");
        assert_eq!(normal("urn:isbn:0451450523"), "urn:isbn:0451450523");
        assert_eq!(normal("https://User@Example.COM/p?q=%41&r=%2F"), "https://User@example.com/p?q=A&r=%2F");
        // Outside `file:`, an encoded `/` is data (a branch `feature/login` in a path segment).
        assert_eq!(
            normal("repo://o/r/refs/heads/feature%2Flogin/contents"),
            "repo://o/r/refs/heads/feature%2Flogin/contents"
        );
        // A path that would turn into an authority keeps being a path.
        assert_eq!(normal("x:/.//etc/passwd"), "x:/.//etc/passwd");
        for bad in [
            "file:///srv%2F..%2Fetc",
            "file:///a%5Cb",
            "file:///a%00",
            "file:///a\\b",
            "file:///a%zz",
            "file://evil.example/srv/.env",
            "file:///srv/.env ",
            "nope",
        ] {
            let why = normalize_uri(bad).expect_err(bad);
            assert!(!why.is_empty(), "{bad}");
        }
    }

    #[test]
    fn a_read_goes_to_the_lister_else_the_most_specific_template_else_the_only_server() {
        use mcp_core::protocol::{Resource, ResourceTemplate};
        use mcp_core::supervised::Catalog;
        use std::sync::Arc;
        let catalog = |resources: &[&str], templates: &[&str]| {
            let mut catalog = Catalog::default();
            catalog.resources = resources.iter().map(|u| Resource::new(*u, "r")).collect();
            catalog.templates = templates.iter().map(|t| ResourceTemplate::new(*t, "t")).collect();
            Arc::new(catalog)
        };
        let catalogs = vec![
            ("brave", catalog(&[], &["repo://{+x}", "{+uri}"])),
            ("github", catalog(&["repo://x/y/README"], &["repo://{owner}/{repo}/contents{/path*}"])),
        ];
        let reader = |catalogs: &[(&'static str, Arc<Catalog>)], uri: &str| super::reader_of(catalogs, uri);
        assert_eq!(reader(&catalogs, "repo://x/y/README"), Ok(Some("github")));
        assert_eq!(reader(&catalogs, "repo://a/b/contents/src/lib.rs"), Ok(Some("github")));
        assert_eq!(reader(&catalogs, "repo://a/b/issues"), Ok(Some("brave")));
        assert_eq!(reader(&catalogs, "other://thing"), Ok(Some("brave")));
        // Claimed alike by two servers: by neither.
        let twins = vec![("a", catalog(&["same://1"], &["t://{id}"])), ("b", catalog(&["same://1"], &["t://{x}"]))];
        for uri in ["same://1", "t://7"] {
            let why = reader(&twins, uri).expect_err(uri);
            assert!(why.contains("`a`, `b`"), "{why}");
        }
        let one = vec![("files", catalog(&["file:///a"], &[])), ("tools", catalog(&[], &[]))];
        assert_eq!(reader(&one, "file:///linked/from/a/result"), Ok(Some("files")));
        let two = vec![("a", catalog(&["a://1"], &[])), ("b", catalog(&["b://1"], &[]))];
        assert_eq!(reader(&two, "c://1"), Ok(None));
    }

    #[test]
    fn a_long_uri_against_many_expressions_is_decided_without_blowing_up() {
        // A backtracking match tries every split of the URI among the expressions.
        let template = "x://{+a}{+b}{+c}{+d}{+e}{+f}{g}!";
        let uri = format!("x://{}", "a".repeat(8_000));
        assert!(!matches_template(template, &uri));
        assert!(matches_template(template, &format!("{uri}!")));
        assert!(!matches_template("x://{+a}", &format!("x://{}", "a".repeat(9_000))), "past the bound");
    }
}
