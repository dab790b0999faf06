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
/// constraint unless `optional` is set.
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
    /// Tool name globs, matched against the server's own name and the exposed name (default: all).
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
    principals: Vec<GlobMatcher>,
    servers: Vec<GlobMatcher>,
    tools: Vec<GlobMatcher>,
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

fn globs(patterns: &[String], rule: &str) -> Result<Vec<GlobMatcher>> {
    patterns.iter().map(|p| glob(p, rule)).collect()
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
        self.evaluate(subject, false)
    }

    /// Whether to list a tool to a principal: the decision for a call with arguments that satisfy
    /// every constraint. Hiding is a convenience; calls are still decided one by one.
    pub fn visible(&self, principal: &str, server: &str, exposed: &str, definition: &Tool) -> bool {
        let subject = Subject { principal, server, tool: &definition.name, exposed, definition, arguments: None };
        self.evaluate(&subject, true).allowed
    }

    fn evaluate(&self, s: &Subject<'_>, listing: bool) -> Decision {
        let annotations = s.definition.annotations.clone().unwrap_or_default();
        if self.read_only && annotations.read_only_hint != Some(true) {
            return Decision {
                allowed: false,
                rule: "read-only mode".into(),
                reason: format!("`{}` is not annotated read-only and the gateway is in read-only mode", s.exposed),
            };
        }
        for compiled in &self.rules {
            // A deny rule that depends on arguments cannot decide a listing.
            if listing && compiled.rule.effect == Effect::Deny && !compiled.arguments.is_empty() {
                continue;
            }
            if let Some(reason) = matches(compiled, s, listing) {
                let allowed = compiled.rule.effect == Effect::Allow;
                return Decision { allowed, rule: compiled.rule.name.clone(), reason };
            }
        }
        let allowed = self.default == Effect::Allow;
        Decision {
            allowed,
            rule: "default".into(),
            reason: if allowed {
                "no rule matched; allowed by default".into()
            } else {
                "no rule allows this call".into()
            },
        }
    }
}

/// `Some(reason)` when every matcher of the rule holds.
fn matches(r: &CompiledRule, s: &Subject<'_>, listing: bool) -> Option<String> {
    let any = |set: &[GlobMatcher], value: &str| set.is_empty() || set.iter().any(|g| g.is_match(value));
    if !any(&r.principals, s.principal) || !any(&r.servers, s.server) {
        return None;
    }
    if !r.tools.is_empty() && !r.tools.iter().any(|g| g.is_match(s.tool) || g.is_match(s.exposed)) {
        return None;
    }
    for (key, wanted) in &r.rule.annotations {
        if annotation(s.definition, key) != *wanted {
            return None;
        }
    }
    if !listing {
        let arguments = s.arguments.cloned().unwrap_or_default();
        for (name, constraint, path, plain) in &r.arguments {
            if !satisfies(arguments.get(name), constraint, path.as_ref(), plain.as_ref()) {
                return None;
            }
        }
    }
    let what = match r.rule.effect {
        Effect::Allow => "allowed",
        Effect::Deny => "denied",
    };
    Some(format!("{what} by rule `{}` for `{}` on `{}`", r.rule.name, s.principal, s.exposed))
}

/// An annotation's value with the protocol's defaults for absent hints.
fn annotation(tool: &Tool, key: &str) -> Value {
    let a = tool.annotations.clone().unwrap_or_default();
    let value = match key {
        "readOnlyHint" => a.read_only_hint.unwrap_or(false),
        "destructiveHint" => a.destructive_hint.unwrap_or(true),
        "idempotentHint" => a.idempotent_hint.unwrap_or(false),
        "openWorldHint" => a.open_world_hint.unwrap_or(true),
        _ => return Value::Null,
    };
    Value::Bool(value)
}

fn satisfies(
    value: Option<&Value>,
    c: &ArgumentConstraint,
    path: Option<&GlobMatcher>,
    plain: Option<&GlobMatcher>,
) -> bool {
    let Some(value) = value else { return c.optional };
    if let Some(values) = &c.values
        && !values.contains(value)
    {
        return false;
    }
    let text = value.as_str();
    if let Some(max) = c.max_length
        && text.is_none_or(|t| t.chars().count() > max)
    {
        return false;
    }
    if let Some(g) = plain
        && text.is_none_or(|t| !g.is_match(t))
    {
        return false;
    }
    if let Some(g) = path {
        match text.and_then(normalize) {
            Some(p) => {
                if !g.is_match(&p) {
                    return false;
                }
            }
            None => return false,
        }
    }
    true
}

/// Resolves `.` and `..` lexically in an absolute path; `None` for relative paths, NUL bytes, or
/// `..` above the root, which a path constraint can never allow.
fn normalize(path: &str) -> Option<PathBuf> {
    if path.contains('\0') || !path.starts_with('/') {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in Path::new(path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}
