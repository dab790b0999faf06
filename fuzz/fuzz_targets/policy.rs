//! mcp-security policy matching with arbitrary rules and subjects: a case is a policy and calls,
//! as JSON (`{"policy": {...}, "calls": [{"principal", "server", "tool", "exposed",
//! "annotations", "arguments"}]}`) or built from the input's bytes.
//!
//! The policy's semantics (policy.rs): read-only mode refuses any tool not annotated read-only;
//! otherwise rules are tried in order and the first that matches decides; when none matches the
//! default decides (deny once any rule is given, unless configured). Listing skips deny rules
//! with argument constraints and ignores arguments.
//!
//! - Compiling never panics; it fails only for a duplicate rule name or an invalid glob.
//! - Every decision names its rule: a configured rule, `default` or `read-only mode`, and these
//!   names are never ambiguous (no rule may take the policy's own names).
//! - The decision is the first matching rule's (each rule's matching is tried alone), so a deny
//!   rule that matches before any allow rule always denies; the same holds for listing.
//! - Path constraints see the path with `.` and `..` resolved: a deny rule on `/etc/**` denies
//!   every spelling of a path under `/etc` (checked against an independent normalization), and
//!   every value it cannot resolve (not a string, relative, with a NUL byte); a list is denied
//!   when any of its items would be.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::{Result, Unstructured};
use globset::Glob;
use libfuzzer_sys::fuzz_target;
use mcp_core::protocol::{JsonObject, Tool};
use mcp_security::{ArgumentConstraint, Effect, Policy, PolicyConfig, Rule, Subject};
use mcptk_fuzz::word;
use serde_json::{Value, json};

const NAMES: &[&str] = &["r0", "r1", "r2", "deny-path", "default", "read-only mode"];
const GLOBS: &[&str] = &["*", "**", "alice", "bob", "a*", "fs", "fs__*", "read_*", "*_file", "{a,b}*", "[", "?", ""];
const PATH_GLOBS: &[&str] = &["/etc/**", "/etc/*", "/data/**", "/data/*.txt", "/**", "/", "/data/{a,b}/**"];
const PRINCIPALS: &[&str] = &["alice", "bob", "", "a"];
const SERVERS: &[&str] = &["fs", "shell", "a"];
const TOOLS: &[&str] = &["read_file", "write_file", "fs__read_file", "exec", "a"];
const PATH_PARTS: &[&str] = &["", "/", ".", "..", "etc", "data", "passwd", "a", "b", "x.txt", "\0", "//", "~"];

fn globs(u: &mut Unstructured<'_>) -> Result<Vec<String>> {
    (0..u.int_in_range(0..=2)?).map(|_| word(u, GLOBS)).collect()
}

fn hints(u: &mut Unstructured<'_>) -> Result<JsonObject> {
    let mut map = JsonObject::new();
    for key in ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint", "otherHint"] {
        if u.ratio(1, 4)? {
            map.insert(key.into(), if u.ratio(9, 10)? { Value::Bool(u.arbitrary()?) } else { json!("yes") });
        }
    }
    Ok(map)
}

fn constraint(u: &mut Unstructured<'_>) -> Result<ArgumentConstraint> {
    Ok(ArgumentConstraint {
        path: if u.arbitrary()? { Some(word(u, PATH_GLOBS)?) } else { None },
        glob: if u.ratio(1, 4)? { Some(word(u, GLOBS)?) } else { None },
        values: if u.ratio(1, 4)? { Some(vec![json!(word(u, TOOLS)?), json!(1)]) } else { None },
        max_length: if u.ratio(1, 4)? { Some(u.int_in_range(0..=8)?) } else { None },
        optional: u.arbitrary()?,
    })
}

fn rule(u: &mut Unstructured<'_>) -> Result<Rule> {
    let mut arguments = BTreeMap::new();
    for _ in 0..u.int_in_range(0..=2)? {
        arguments.insert(word(u, &["path", "cmd"])?, constraint(u)?);
    }
    Ok(Rule {
        name: word(u, NAMES)?,
        effect: if u.arbitrary()? { Effect::Allow } else { Effect::Deny },
        principals: globs(u)?,
        servers: globs(u)?,
        tools: globs(u)?,
        annotations: hints(u)?,
        arguments,
    })
}

/// A path in many spellings: absolute or not, with `.`, `..`, empty parts and NULs.
fn path(u: &mut Unstructured<'_>) -> Result<String> {
    let mut s = String::new();
    for _ in 0..u.int_in_range(0..=6)? {
        s.push_str(if u.ratio(4, 5)? { "/" } else { "" });
        s.push_str(u.choose(PATH_PARTS)?);
    }
    Ok(s)
}

/// `.` and `..` resolved in an absolute path (`..` at the root staying there), written
/// independently of the policy's own code; `None` for a path that cannot be resolved.
fn normalized(path: &str) -> Option<String> {
    if path.contains('\0') || !path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

fn allows(effect: Effect) -> bool {
    effect == Effect::Allow
}

/// Whether `rule` alone matches: a policy of just that rule whose default is the opposite.
fn matches_alone(rule: &Rule, s: &Subject<'_>, listing: bool) -> bool {
    let mut rule = rule.clone();
    if listing {
        rule.arguments.clear();
    }
    let opposite = if allows(rule.effect) { Effect::Deny } else { Effect::Allow };
    let effect = rule.effect;
    let policy = Policy::new(PolicyConfig { read_only: false, rules: vec![rule], default: Some(opposite) })
        .expect("a rule of a valid policy is valid alone");
    let allowed =
        if listing { policy.visible(s.principal, s.server, s.exposed, s.definition) } else { policy.decide(s).allowed };
    allowed == allows(effect)
}

/// One case: a policy and calls to decide, as JSON (the seeds and regressions) or built from bytes.
#[derive(Debug, serde::Deserialize)]
struct Case {
    policy: PolicyConfig,
    calls: Vec<Call>,
}

#[derive(Debug, serde::Deserialize)]
struct Call {
    principal: String,
    server: String,
    tool: String,
    exposed: String,
    #[serde(default)]
    annotations: JsonObject,
    #[serde(default)]
    arguments: JsonObject,
}

fn case_arbitrary(u: &mut Unstructured<'_>) -> Result<Case> {
    let mut rules = Vec::new();
    // Often a rule first that denies paths under one glob: nothing may get past it.
    if u.arbitrary()? {
        let constraint = ArgumentConstraint { path: Some(word(u, PATH_GLOBS)?), ..ArgumentConstraint::default() };
        rules.push(Rule {
            name: "deny-path".into(),
            effect: Effect::Deny,
            principals: vec![],
            servers: vec![],
            tools: vec![],
            annotations: JsonObject::new(),
            arguments: BTreeMap::from([("path".into(), constraint)]),
        });
    }
    for _ in 0..u.int_in_range(0..=4)? {
        rules.push(rule(u)?);
    }
    let default = match u.int_in_range(0..=2)? {
        0 => None,
        1 => Some(Effect::Allow),
        _ => Some(Effect::Deny),
    };
    let policy = PolicyConfig { read_only: u.ratio(1, 5)?, rules, default };
    let mut calls = Vec::new();
    for _ in 0..u.int_in_range(1..=3)? {
        let mut arguments = JsonObject::new();
        if u.ratio(3, 4)? {
            let value = match u.int_in_range(0..=9)? {
                0 => json!(7),
                1 => {
                    let mut items = Vec::new();
                    for _ in 0..u.int_in_range(0..=3)? {
                        items.push(if u.ratio(9, 10)? { json!(path(u)?) } else { json!(7) });
                    }
                    Value::Array(items)
                }
                _ => json!(path(u)?),
            };
            arguments.insert("path".into(), value);
        }
        if u.arbitrary()? {
            arguments.insert("cmd".into(), json!(word(u, TOOLS)?));
        }
        calls.push(Call {
            principal: word(u, PRINCIPALS)?,
            server: word(u, SERVERS)?,
            tool: word(u, TOOLS)?,
            exposed: word(u, TOOLS)?,
            annotations: hints(u)?,
            arguments,
        });
    }
    Ok(Case { policy, calls })
}

/// The glob of a first rule that only denies paths under it, if the policy starts with one.
fn path_guard(config: &PolicyConfig) -> Option<&str> {
    let first = config.rules.first()?;
    let plain = first.name == "deny-path"
        && first.effect == Effect::Deny
        && first.principals.is_empty()
        && first.servers.is_empty()
        && first.tools.is_empty()
        && first.annotations.is_empty()
        && first.arguments.len() == 1;
    let c = first.arguments.get("path").filter(|_| plain)?;
    let only_path = c.glob.is_none() && c.values.is_none() && c.max_length.is_none() && !c.optional;
    c.path.as_deref().filter(|_| only_path)
}

fn check(case: &Case) {
    let config = &case.policy;
    let rules = &config.rules;
    let policy = match Policy::new(config.clone()) {
        Ok(policy) => policy,
        Err(e) => {
            let mut names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
            names.sort_unstable();
            let duplicate = names.windows(2).any(|w| w[0] == w[1]);
            let reserved = names.iter().any(|n| *n == "default" || *n == "read-only mode");
            let bad_glob = rules.iter().any(|r| {
                let args = r.arguments.values().flat_map(|c| c.path.iter().chain(c.glob.iter()));
                r.principals.iter().chain(&r.servers).chain(&r.tools).chain(args).any(|g| Glob::new(g).is_err())
            });
            assert!(duplicate || reserved || bad_glob, "a valid policy was refused: {e}");
            return;
        }
    };
    for r in rules {
        assert!(r.name != "default" && r.name != "read-only mode", "a rule may not take the name `{}`", r.name);
    }
    let guard = path_guard(config);
    let fallback = config.default.unwrap_or(if rules.is_empty() { Effect::Allow } else { Effect::Deny });
    for call in &case.calls {
        let definition: Tool = serde_json::from_value(json!({
            "name": call.tool,
            "inputSchema": {"type": "object"},
            "annotations": call.annotations,
        }))
        .unwrap_or_else(|_| {
            serde_json::from_value(json!({"name": call.tool, "inputSchema": {}})).expect("a minimal tool")
        });
        let subject = Subject {
            principal: &call.principal,
            server: &call.server,
            tool: &definition.name,
            exposed: &call.exposed,
            definition: &definition,
            arguments: Some(&call.arguments),
        };
        let read_only_blocked =
            config.read_only && definition.annotations.as_ref().and_then(|a| a.read_only_hint) != Some(true);
        for listing in [false, true] {
            let decision = if listing {
                (policy.visible(subject.principal, subject.server, subject.exposed, &definition), None)
            } else {
                let d = policy.decide(&subject);
                assert!(!d.reason.is_empty(), "a decision without a reason: {d:?}");
                (d.allowed, Some(d.rule))
            };
            let expected = if read_only_blocked {
                (false, "read-only mode")
            } else {
                let first = rules
                    .iter()
                    .filter(|r| !(listing && r.effect == Effect::Deny && !r.arguments.is_empty()))
                    .find(|r| matches_alone(r, &subject, listing));
                match first {
                    Some(r) => (allows(r.effect), r.name.as_str()),
                    None => (allows(fallback), "default"),
                }
            };
            assert_eq!(decision.0, expected.0, "listing {listing}: {decision:?}, expected {expected:?} for {call:?}");
            if let Some(rule) = &decision.1 {
                assert_eq!(rule, expected.1, "the decision names another rule than the deciding one, for {call:?}");
            }
        }

        // The path guard denies exactly the paths that resolve under its glob.
        if let Some(glob) = guard
            && !read_only_blocked
        {
            let matcher = Glob::new(glob).expect("the policy compiled it").compile_matcher();
            // Present and resolved under the glob, or present and not resolvable at all (not a
            // string, relative, with a NUL): what a deny rule cannot check, it applies to.
            let path = call.arguments.get("path");
            let denied = |p: &Value| p.as_str().and_then(normalized).is_none_or(|p| matcher.is_match(p));
            let under = path.is_some_and(|p| match p {
                Value::Array(items) => items.iter().any(denied),
                p => denied(p),
            });
            let d = policy.decide(&subject);
            assert_eq!(d.rule == "deny-path", under, "path {path:?} against {glob}: {d:?}");
            assert!(!under || !d.allowed);
        }
    }
}

fn case_text(data: &[u8]) -> Option<Case> {
    serde_json::from_slice(data).ok()
}

fuzz_target!(|data: &[u8]| {
    if let Some(case) = mcptk_fuzz::input(data, case_text, case_arbitrary) {
        check(&case);
    }
});
