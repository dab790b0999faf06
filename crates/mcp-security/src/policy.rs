//! Access policy: ordered rules, first match decides, deny by default once rules are given.

use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobMatcher};
use mcp_core::protocol::{JsonObject, Tool};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Let the call through.
    Allow,
    /// Refuse it.
    Deny,
}

/// A constraint on one argument. Every field given must hold; an absent argument fails the
/// constraint unless `optional` is set. A value a field cannot be checked against (a path that
/// is not absolute, a number where a string is expected) never satisfies an allow rule, and
/// makes a deny rule apply: what cannot be checked is refused. A list is checked item by item:
/// an allow rule's constraint holds when every item satisfies it, a deny rule's when any does.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgumentConstraint {
    /// A glob the value must match after `.` and `..` are resolved (so `/data/../etc` is `/etc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A glob the value must match as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glob: Option<String>,
    /// The value must be one of these (compared as JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
    /// A string value may be at most this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// An absent argument satisfies the constraint.
    #[serde(default)]
    pub optional: bool,
}

/// One rule as configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Named in every decision it makes.
    pub name: String,
    /// Allow or deny.
    pub effect: Effect,
    /// Principal globs (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Server name globs (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<String>,
    /// Tool name globs (default: all), matched against the server's own name and the exposed
    /// name. In an allow rule that names no servers, a server's own name with the gateway's
    /// separator `__` in it counts by its exposed name only: no server can name its tool
    /// `fs__read_x` to fit an allow meant for the `fs` server's exposed `fs__read_*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Annotations the tool must carry, e.g. `{"readOnlyHint": true}`; an absent hint has the
    /// protocol's default (read-only false, destructive true, idempotent false, open-world true).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub annotations: JsonObject,
    /// Constraints on arguments, by argument name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub arguments: std::collections::BTreeMap<String, ArgumentConstraint>,
}

/// The `policy` section of the gateway configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Only tools annotated `readOnlyHint: true` may be called.
    #[serde(default)]
    pub read_only: bool,
    /// Ordered rules; the first that matches decides.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// What happens when no rule matches: `deny` once any rule is given, else `allow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Effect>,
}

/// What is being decided about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Who is calling.
    pub principal: &'a str,
    /// The upstream server.
    pub server: &'a str,
    /// The tool's name at the server.
    pub tool: &'a str,
    /// The name the caller sees.
    pub exposed: &'a str,
    /// The tool's definition (annotations are read from it).
    pub definition: &'a Tool,
    /// The call's arguments; `None` when deciding whether to list the tool.
    pub arguments: Option<&'a JsonObject>,
}

/// A decision and the rule that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Decision {
    /// Allowed or not.
    pub allowed: bool,
    /// The deciding rule (`default`, `read-only mode`, or a configured rule's name).
    pub rule: String,
    /// Why, in words.
    pub reason: String,
}

struct CompiledRule {
    rule: Rule,
    principals: Vec<NamePattern>,
    servers: Vec<NamePattern>,
    tools: Vec<NamePattern>,
    arguments: Vec<(String, ArgumentConstraint, Option<GlobMatcher>, Option<GlobMatcher>)>,
}

/// A checked policy.
pub struct Policy {
    read_only: bool,
    rules: Vec<CompiledRule>,
    default: Effect,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("read_only", &self.read_only)
            .field("rules", &self.rules.iter().map(|r| &r.rule.name).collect::<Vec<_>>())
            .field("default", &self.default)
            .finish()
    }
}

/// The names of the decisions no configured rule makes; a rule named so would make them ambiguous.
const RESERVED_NAMES: &[&str] = &["default", "read-only mode"];

fn glob(pattern: &str, rule: &str) -> Result<GlobMatcher> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::Config(format!("rule `{rule}`: invalid pattern `{pattern}`: {e}")))
}

fn globs(patterns: &[String], rule: &str) -> Result<Vec<NamePattern>> {
    patterns.iter().map(|p| NamePattern::new(p).map_err(|e| invalid(rule, p, e))).collect()
}

fn invalid(rule: &str, pattern: &str, e: globset::Error) -> Error {
    Error::Config(format!("rule `{rule}`: invalid pattern `{pattern}`: {e}"))
}

/// A glob over names (principals, servers, tools), compiled once. A pattern without wildcards
/// is compared as text and `prefix*` as a prefix, which is what the glob means, without a regex
/// run per call; any other pattern is a glob.
#[derive(Debug, Clone)]
pub(crate) enum NamePattern {
    Exactly(String),
    Prefix(String),
    Glob(GlobMatcher),
}

impl NamePattern {
    /// Compiles `pattern`, or says why it is not a valid glob.
    pub(crate) fn new(pattern: &str) -> Result<NamePattern, globset::Error> {
        let special = |text: &str| text.contains(['*', '?', '[', ']', '{', '}', '\\']);
        match pattern.strip_suffix('*') {
            _ if !special(pattern) => Ok(NamePattern::Exactly(pattern.to_owned())),
            Some(prefix) if !special(prefix) => Ok(NamePattern::Prefix(prefix.to_owned())),
            _ => Glob::new(pattern).map(|g| NamePattern::Glob(g.compile_matcher())),
        }
    }

    /// Whether `name` matches.
    pub(crate) fn is_match(&self, name: &str) -> bool {
        match self {
            NamePattern::Exactly(text) => name == text,
            NamePattern::Prefix(prefix) => name.starts_with(prefix.as_str()),
            NamePattern::Glob(glob) => glob.is_match(name),
        }
    }

    /// Whether any of `patterns` matches `name`; an empty list matches every name.
    pub(crate) fn any(patterns: &[NamePattern], name: &str) -> bool {
        patterns.is_empty() || patterns.iter().any(|p| p.is_match(name))
    }
}

impl Policy {
    /// Compiles a configuration, naming the rule of any invalid pattern.
    pub fn new(config: PolicyConfig) -> Result<Policy> {
        let default = config.default.unwrap_or(if config.rules.is_empty() { Effect::Allow } else { Effect::Deny });
        let mut rules = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for rule in config.rules {
            if !names.insert(rule.name.clone()) {
                return Err(Error::Config(format!("two rules are named `{}`", rule.name)));
            }
            if RESERVED_NAMES.contains(&rule.name.as_str()) {
                return Err(Error::Config(format!(
                    "a rule may not be named `{}`: decisions no rule makes are named so",
                    rule.name
                )));
            }
            let mut arguments = Vec::new();
            for (name, c) in &rule.arguments {
                let path = c.path.as_deref().map(|p| glob(p, &rule.name)).transpose()?;
                let plain = c.glob.as_deref().map(|p| glob(p, &rule.name)).transpose()?;
                arguments.push((name.clone(), c.clone(), path, plain));
            }
            rules.push(CompiledRule {
                principals: globs(&rule.principals, &rule.name)?,
                servers: globs(&rule.servers, &rule.name)?,
                tools: globs(&rule.tools, &rule.name)?,
                arguments,
                rule,
            });
        }
        Ok(Policy { read_only: config.read_only, rules, default })
    }

    /// Allows everything (no policy configured).
    pub fn allow_all() -> Policy {
        Policy { read_only: false, rules: Vec::new(), default: Effect::Allow }
    }

    /// Decides about a call.
    pub fn decide(&self, subject: &Subject<'_>) -> Decision {
        self.evaluate(subject, false).decision(subject)
    }

    /// Decides about a call, in words only when it is refused: `Ok` with the deciding rule's name,
    /// or the refusal. For the pipeline, where allowing is the common case.
    pub fn allows(&self, subject: &Subject<'_>) -> Result<&str, Decision> {
        let verdict = self.evaluate(subject, false);
        if verdict.allowed() { Ok(verdict.rule()) } else { Err(verdict.decision(subject)) }
    }

    /// Whether to list a tool to a principal: the decision for a call with arguments that satisfy
    /// every constraint. Hiding is a convenience; calls are still decided one by one.
    pub fn visible(&self, principal: &str, server: &str, exposed: &str, definition: &Tool) -> bool {
        let subject = Subject { principal, server, tool: &definition.name, exposed, definition, arguments: None };
        self.evaluate(&subject, true).allowed()
    }

    /// The decision behind [`Policy::visible`], with the rule that makes it: whether `principal`
    /// may call the tool with arguments that satisfy every constraint (an operator's overview).
    pub fn decide_listing(&self, principal: &str, server: &str, exposed: &str, definition: &Tool) -> Decision {
        let subject = Subject { principal, server, tool: &definition.name, exposed, definition, arguments: None };
        self.evaluate(&subject, true).decision(&subject)
    }

    /// The deny rules that refuse no call of a tool made with the arguments it declares, with
    /// the argument that makes it so: each rule that names servers or tools, matches this one by
    /// them (and by its annotations) and constrains an argument (not `optional`) that the tool's
    /// schema does not declare. Such a call does not carry that argument, so the constraint never
    /// holds: a rule on `path` does not see `read_multiple_files`'s `paths`. Left out: a rule
    /// that names neither servers nor tools (meant for whichever tools take its arguments); a
    /// tool that takes no arguments, or whose schema may declare more than its `properties` say
    /// (`allOf`, `anyOf`, `oneOf`, `$ref`, `patternProperties`, `if`, an `additionalProperties`
    /// schema and the like); and a tool whose every call is decided before the
    /// rule, by read-only mode or by an earlier rule that names it for every caller with no
    /// argument constraint.
    pub fn blind_spots(&self, server: &str, exposed: &str, definition: &Tool) -> Vec<(&str, &str)> {
        let schema = &definition.input_schema;
        let Some(Value::Object(declared)) = schema.get("properties") else { return Vec::new() };
        // Keywords through which a schema takes arguments its `properties` do not list.
        const ELSEWHERE: [&str; 9] =
            ["allOf", "anyOf", "oneOf", "$ref", "not", "if", "patternProperties", "dependentSchemas", "$dynamicRef"];
        let composed = ELSEWHERE.iter().any(|key| schema.contains_key(*key))
            || schema.get("additionalProperties").is_some_and(Value::is_object);
        let read_only = definition.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true);
        if declared.is_empty() || composed || (self.read_only && !read_only) {
            return Vec::new();
        }
        let mut spots = Vec::new();
        for r in &self.rules {
            if !names_the_tool(r, server, &definition.name, exposed, definition) {
                continue;
            }
            if r.arguments.is_empty() && r.principals.is_empty() {
                // Every call of the tool is decided here, before any later rule.
                break;
            }
            let targeted = !r.servers.is_empty() || !r.tools.is_empty();
            if r.rule.effect != Effect::Deny || !targeted {
                continue;
            }
            let missing = r.arguments.iter().find(|(name, c, ..)| !c.optional && !declared.contains_key(name));
            if let Some((name, ..)) = missing {
                spots.push((r.rule.name.as_str(), name.as_str()));
            }
        }
        spots
    }

    /// The `tools` entries of the rules that name no tool a server lists, as `(rule, entry)`
    /// pairs in rule order: a typo (`normal__wrok`) that would otherwise make a deny rule refuse
    /// nothing, or an allow rule allow nothing, without a word. `servers` are the servers served,
    /// each with whether it has listed its tools yet; `tools` every tool served, as (server, the
    /// server's own name, exposed name). An entry is looked up among the tools of the servers the
    /// rule covers (its `servers`, or every server), once the one a written-out `server__tool`
    /// names has listed, or else all of them have. A written-out `server__tool` whose server
    /// part names no server served, in a rule without `servers`, is left to the configuration's
    /// check (a disabled server's, or a mistyped server name).
    pub fn unmatched_tools<'a>(
        &'a self,
        servers: &[(&str, bool)],
        tools: &[(&str, &str, &str)],
    ) -> Vec<(&'a str, &'a str)> {
        let mut unmatched = Vec::new();
        for r in &self.rules {
            let covered: Vec<&(&str, bool)> =
                servers.iter().filter(|(name, _)| NamePattern::any(&r.servers, name)).collect();
            for (entry, pattern) in r.rule.tools.iter().zip(&r.tools) {
                let written_out = match pattern {
                    NamePattern::Exactly(name) if name.contains(mcp_core::naming::SEPARATOR) => Some(name),
                    _ => None,
                };
                let named =
                    written_out.and_then(|name| mcp_core::naming::server_of(name, servers.iter().map(|(s, _)| *s)));
                let ready = match named {
                    Some(server) => servers.iter().any(|(s, listed)| *s == server && *listed),
                    // A `server__tool` whose server part names no server served (one disabled, or
                    // a typo the configuration's check names), in a rule without `servers`.
                    None if written_out.is_some() && r.servers.is_empty() => continue,
                    None => !covered.is_empty() && covered.iter().all(|(_, listed)| *listed),
                };
                if !ready {
                    continue;
                }
                let found = tools.iter().any(|(server, tool, exposed)| {
                    covered.iter().any(|(s, _)| s == server) && tool_entry_matches(r, pattern, tool, exposed)
                });
                if !found {
                    unmatched.push((r.rule.name.as_str(), entry.as_str()));
                }
            }
        }
        unmatched
    }

    /// Whether any rule names tools (has a `tools` entry).
    pub fn names_tools(&self) -> bool {
        self.rules.iter().any(|r| !r.tools.is_empty())
    }

    /// The principals the rules name literally (patterns without wildcards), sorted, each once:
    /// whom an operator's overview shows the decisions for.
    pub fn named_principals(&self) -> Vec<String> {
        let patterns = self.rules.iter().flat_map(|r| r.principals.iter());
        let mut names: Vec<String> = patterns
            .filter_map(|p| match p {
                NamePattern::Exactly(name) => Some(name.clone()),
                NamePattern::Prefix(_) | NamePattern::Glob(_) => None,
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn evaluate(&self, s: &Subject<'_>, listing: bool) -> Verdict<'_> {
        let read_only = s.definition.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true);
        if self.read_only && !read_only {
            return Verdict::ReadOnly;
        }
        for compiled in &self.rules {
            // A deny rule that depends on arguments cannot decide a listing.
            if listing && compiled.rule.effect == Effect::Deny && !compiled.arguments.is_empty() {
                continue;
            }
            match matches(compiled, s, listing) {
                Matched::No => {}
                Matched::Yes => return Verdict::Rule(&compiled.rule),
                Matched::Unchecked { argument, why } => return Verdict::Unchecked(&compiled.rule, argument, why),
            }
        }
        Verdict::Default(self.default)
    }
}

/// What decided, before it is put in words.
enum Verdict<'p> {
    ReadOnly,
    Rule(&'p Rule),
    /// A deny rule that applies because a value could not be checked against its constraint on
    /// an argument: the argument's name, and what is wrong with the value.
    Unchecked(&'p Rule, &'p str, &'static str),
    Default(Effect),
}

impl<'p> Verdict<'p> {
    fn allowed(&self) -> bool {
        match self {
            Verdict::ReadOnly => false,
            Verdict::Rule(rule) => rule.effect == Effect::Allow,
            Verdict::Unchecked(..) => false,
            Verdict::Default(effect) => *effect == Effect::Allow,
        }
    }

    fn rule(&self) -> &'p str {
        match *self {
            Verdict::ReadOnly => "read-only mode",
            Verdict::Rule(rule) | Verdict::Unchecked(rule, ..) => &rule.name,
            Verdict::Default(_) => "default",
        }
    }

    fn decision(&self, s: &Subject<'_>) -> Decision {
        let allowed = self.allowed();
        let reason = match self {
            Verdict::ReadOnly => {
                format!("`{}` is not annotated read-only and the gateway is in read-only mode", s.exposed)
            }
            // The rule's name travels beside the reason (`Decision::rule`), and every message that
            // shows one shows the other, so the reason does not name it again.
            Verdict::Rule(_) => format!("it matches `{}` calling `{}`", s.principal, s.exposed),
            Verdict::Unchecked(_, argument, why) => format!(
                "`{argument}` {why} in `{}`'s call of `{}`, so the rule's constraint on it cannot be checked",
                s.principal, s.exposed
            ),
            Verdict::Default(_) if allowed => "no rule matched; allowed by default".into(),
            Verdict::Default(_) => "no rule allows this call".into(),
        };
        Decision { allowed, rule: self.rule().to_owned(), reason }
    }
}

/// Whether a rule matches a subject.
enum Matched<'r> {
    No,
    Yes,
    /// A deny rule whose constraint on `argument` cannot be checked against its value (and none
    /// of whose matchers fails): it applies.
    Unchecked {
        argument: &'r str,
        why: &'static str,
    },
}

/// Whether every matcher of the rule holds. A value that cannot be checked against a constraint
/// fails an allow rule and makes a deny rule apply.
fn matches<'r>(r: &'r CompiledRule, s: &Subject<'_>, listing: bool) -> Matched<'r> {
    if !NamePattern::any(&r.principals, s.principal) || !names_the_tool(r, s.server, s.tool, s.exposed, s.definition) {
        return Matched::No;
    }
    let mut unchecked = None;
    if !listing {
        let arguments = s.arguments;
        for (name, constraint, path, plain) in &r.arguments {
            let value = arguments.and_then(|a| a.get(name));
            match satisfies(value, constraint, path.as_ref(), plain.as_ref(), r.rule.effect) {
                Holds::Yes => {}
                Holds::No => return Matched::No,
                Holds::Unchecked(why) => {
                    unchecked.get_or_insert(Matched::Unchecked { argument: name, why });
                }
            }
        }
    }
    match unchecked {
        None => Matched::Yes,
        Some(unchecked) if r.rule.effect == Effect::Deny => unchecked,
        Some(_) => Matched::No,
    }
}

/// Whether a rule's servers, tools and annotations match a tool, whoever calls it.
fn names_the_tool(r: &CompiledRule, server: &str, tool: &str, exposed: &str, definition: &Tool) -> bool {
    if !NamePattern::any(&r.servers, server) {
        return false;
    }
    if !r.tools.is_empty() && !r.tools.iter().any(|g| tool_entry_matches(r, g, tool, exposed)) {
        return false;
    }
    r.rule.annotations.iter().all(|(key, wanted)| annotation(definition, key) == *wanted)
}

/// Whether one of a rule's `tools` entries matches a tool, by its exposed name or its server's
/// own name for it.
fn tool_entry_matches(r: &CompiledRule, entry: &NamePattern, tool: &str, exposed: &str) -> bool {
    // In an allow rule that names no servers, a server's own tool name with the separator in it
    // (`fs__read_x` on server `evil`) counts by its exposed name only, so that no server names
    // its tool into a rule meant for another's exposed names; deny rules match both names.
    let raw_too = r.rule.effect == Effect::Deny || !r.servers.is_empty() || !tool.contains(mcp_core::naming::SEPARATOR);
    entry.is_match(exposed) || raw_too && entry.is_match(tool)
}

/// Whether a value satisfies a constraint: a check that fails decides (no), else one that
/// cannot be made (with what is wrong with the value), else yes.
enum Holds {
    Yes,
    No,
    Unchecked(&'static str),
}

/// An annotation's value with the protocol's defaults for absent hints.
fn annotation(tool: &Tool, key: &str) -> Value {
    let a = tool.annotations.as_ref();
    let hint =
        |get: fn(&mcp_core::protocol::ToolAnnotations) -> Option<bool>, absent: bool| a.and_then(get).unwrap_or(absent);
    let value = match key {
        "readOnlyHint" => hint(|a| a.read_only_hint, false),
        "destructiveHint" => hint(|a| a.destructive_hint, true),
        "idempotentHint" => hint(|a| a.idempotent_hint, false),
        "openWorldHint" => hint(|a| a.open_world_hint, true),
        _ => return Value::Null,
    };
    Value::Bool(value)
}

/// A list (`paths` of `read_multiple_files`) is checked item by item: an allow rule's
/// constraint holds when every item satisfies it, a deny rule's when any item does (so one path
/// under a denied folder refuses the call); an item that cannot be checked counts as in
/// [`Holds`].
fn satisfies(
    value: Option<&Value>,
    c: &ArgumentConstraint,
    path: Option<&GlobMatcher>,
    plain: Option<&GlobMatcher>,
    effect: Effect,
) -> Holds {
    let Some(value) = value else { return if c.optional { Holds::Yes } else { Holds::No } };
    let Value::Array(items) = value else { return satisfies_one(value, c, path, plain) };
    let mut unchecked = None;
    for item in items {
        match (satisfies_one(item, c, path, plain), effect) {
            (Holds::No, Effect::Allow) | (Holds::Yes, Effect::Deny) => return Holds::from(effect == Effect::Deny),
            (Holds::Unchecked(why), _) => unchecked = unchecked.or(Some(why)),
            _ => {}
        }
    }
    unchecked.map_or(Holds::from(effect == Effect::Allow), |why| Holds::Unchecked(of_an_item(why)))
}

/// What cannot be checked about a value: it is not a string.
const NOT_TEXT: &str = "is not a string";
/// … it has a NUL byte.
const NUL: &str = "has a NUL byte in it";
/// … it is not an absolute path.
const RELATIVE: &str = "is not an absolute path";

/// What cannot be checked about a value, said of a list with such an item.
fn of_an_item(why: &'static str) -> &'static str {
    match why {
        NOT_TEXT => "has an item that is not a string",
        NUL => "has an item with a NUL byte in it",
        RELATIVE => "has an item that is not an absolute path",
        _ => "has an item that cannot be checked",
    }
}

impl From<bool> for Holds {
    fn from(yes: bool) -> Self {
        if yes { Holds::Yes } else { Holds::No }
    }
}

fn satisfies_one(
    value: &Value,
    c: &ArgumentConstraint,
    path: Option<&GlobMatcher>,
    plain: Option<&GlobMatcher>,
) -> Holds {
    if let Some(values) = &c.values
        && !values.contains(value)
    {
        return Holds::No;
    }
    let mut unchecked = None;
    let text = value.as_str();
    if let Some(max) = c.max_length {
        match text {
            Some(t) if t.chars().count() > max => return Holds::No,
            Some(_) => {}
            None => unchecked = Some(NOT_TEXT),
        }
    }
    if let Some(g) = plain {
        match text {
            Some(t) if !g.is_match(t) => return Holds::No,
            Some(_) => {}
            None => unchecked = Some(NOT_TEXT),
        }
    }
    if let Some(g) = path {
        match text.map(normalize) {
            Some(Ok(p)) if !g.is_match(&p) => return Holds::No,
            Some(Ok(_)) => {}
            Some(Err(why)) => unchecked = unchecked.or(Some(why)),
            None => unchecked = Some(NOT_TEXT),
        }
    }
    unchecked.map_or(Holds::Yes, Holds::Unchecked)
}

/// Resolves `.` and `..` lexically in an absolute path, `..` at the root staying there as the
/// system resolves it (`/../etc` is `/etc`). A relative path (`~` included: no shell expands it
/// here) or one with a NUL byte cannot be resolved: what is wrong with it.
fn normalize(path: &str) -> Result<PathBuf, &'static str> {
    if path.contains('\0') {
        return Err(NUL);
    }
    if !path.starts_with('/') {
        return Err(RELATIVE);
    }
    let mut out = PathBuf::from("/");
    for c in Path::new(path).components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                out.pop();
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_patterns_match_as_their_globs() {
        let patterns = ["echo", "read_*", "*", "", "*_file", "re?d", "gh[pu]_*", "{a,b}*", "a*b", "fs/x", "read_**"];
        let names = [
            "echo",
            "echo2",
            "read_file",
            "read_",
            "read",
            "list_file",
            "",
            "reed",
            "ghp_x",
            "abc",
            "b",
            "a/b",
            "fs/x",
            "x\ny",
        ];
        for pattern in patterns {
            let ours = NamePattern::new(pattern).expect("valid");
            let glob = Glob::new(pattern).expect("valid").compile_matcher();
            for name in names {
                assert_eq!(ours.is_match(name), glob.is_match(name), "`{pattern}` against `{name}`");
            }
        }
        assert!(matches!(NamePattern::new("echo"), Ok(NamePattern::Exactly(_))));
        assert!(matches!(NamePattern::new("read_*"), Ok(NamePattern::Prefix(_))));
        assert!(NamePattern::new("[unclosed").is_err(), "invalid globs are still refused");
    }

    #[test]
    fn a_listing_decision_names_the_rule_that_lists_or_hides_the_tool() {
        let rule = |name: &str, effect, principals: &[&str], tools: &[&str]| Rule {
            name: name.into(),
            effect,
            principals: principals.iter().map(|p| (*p).to_owned()).collect(),
            servers: Vec::new(),
            tools: tools.iter().map(|t| (*t).to_owned()).collect(),
            annotations: JsonObject::new(),
            arguments: std::collections::BTreeMap::new(),
        };
        let mut confined = rule("no-etc", Effect::Deny, &[], &["read_file"]);
        confined
            .arguments
            .insert("path".into(), ArgumentConstraint { path: Some("/etc/**".into()), ..Default::default() });
        let policy = Policy::new(PolicyConfig {
            read_only: false,
            rules: vec![
                confined,
                rule("no-writes", Effect::Deny, &[], &["write_file"]),
                rule("ops", Effect::Allow, &["ops"], &[]),
            ],
            default: None,
        })
        .expect("compiles");
        let tool = |name: &str| Tool::new(name, "", JsonObject::new());
        let decide = |principal: &str, name: &str| {
            let d = policy.decide_listing(principal, "fs", &format!("fs__{name}"), &tool(name));
            (d.allowed, d.rule)
        };
        assert_eq!(decide("ops", "write_file"), (false, "no-writes".to_owned()));
        // A deny rule that depends on arguments does not decide a listing; the next rule does.
        assert_eq!(decide("ops", "read_file"), (true, "ops".to_owned()));
        assert_eq!(decide("guest", "read_file"), (false, "default".to_owned()));
        // The same answer as `visible`, for every case.
        for (principal, name) in [("ops", "write_file"), ("ops", "read_file"), ("guest", "read_file")] {
            let visible = policy.visible(principal, "fs", &format!("fs__{name}"), &tool(name));
            assert_eq!(decide(principal, name).0, visible, "{principal} {name}");
        }
    }

    #[test]
    fn the_principals_named_are_the_literal_ones_each_once() {
        let rule = |name: &str, principals: &[&str]| Rule {
            name: name.into(),
            effect: Effect::Allow,
            principals: principals.iter().map(|p| (*p).to_owned()).collect(),
            servers: Vec::new(),
            tools: Vec::new(),
            annotations: JsonObject::new(),
            arguments: std::collections::BTreeMap::new(),
        };
        let policy = Policy::new(PolicyConfig {
            read_only: false,
            rules: vec![rule("a", &["ops", "team-*", "ci"]), rule("b", &["ci", "bot[0-9]", "alice"]), rule("c", &[])],
            default: None,
        })
        .expect("compiles");
        assert_eq!(policy.named_principals(), ["alice", "ci", "ops"]);
    }
}
