//! What `mcptk serve` answers, checked against the specification's own JSON Schema of each
//! revision (vendored in `tests/schema/`): the default gateway and each native server, in every
//! revision it speaks, driven with raw JSON-RPC lines over stdio. A strict client (the
//! TypeScript SDK, Python `mcp` in legacy mode) refuses a result that breaks its revision's
//! schema, so one bad tool definition hides every tool of the server from it.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::{HANDSHAKE_REVISIONS, MODERN_REVISION, Scratch, Served, Wire, root};

/// Items per page of list results here.
const PAGE_SIZE: usize = 4;

/// One revision's schema document.
struct Spec {
    revision: &'static str,
    document: Value,
}

impl Spec {
    fn load(revision: &'static str) -> Spec {
        let path = root().join("tests/schema").join(revision).join("schema.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let document = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Spec { revision, document }
    }

    /// Where the document keeps its definitions: `$defs` (2020-12) or `definitions` (draft-07).
    fn defs_key(&self) -> &'static str {
        if self.document.get("$defs").is_some() { "$defs" } else { "definitions" }
    }

    /// A validator for the definition `name`, its `$ref`s resolved against the whole document.
    fn validator(&self, name: &str) -> jsonschema::Validator {
        let key = self.defs_key();
        assert!(self.document[key].get(name).is_some(), "the {} schema has no definition {name}", self.revision);
        let mut schema = self.document.clone();
        schema["$ref"] = json!(format!("#/{key}/{name}"));
        jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("the {} schema for {name} does not compile: {e}", self.revision))
    }

    /// Every way `value` breaks the definition `name`, each named by `locate` (which turns the
    /// failing instance path into words, e.g. the tool it is in).
    fn violations(&self, name: &str, value: &Value, locate: impl Fn(&str) -> String) -> Vec<String> {
        self.validator(name)
            .iter_errors(value)
            .map(|e| {
                let path = e.instance_path().to_string();
                format!("{name}: {} at `{path}`: {e} (schema path {})", locate(&path), e.schema_path())
            })
            .collect()
    }
}

/// The tool an instance path of a `ListToolsResult` points into, e.g. `/tools/3/outputSchema`.
fn tool_at(page: &Value, path: &str) -> String {
    let index = path.strip_prefix("/tools/").and_then(|rest| rest.split('/').next()).and_then(|i| i.parse().ok());
    match index.and_then(|i: usize| page["tools"][i]["name"].as_str()) {
        Some(name) => format!("tool `{name}`"),
        None => "the result".to_owned(),
    }
}

/// Checks the schemas a tool declares are JSON Schemas themselves (clients compile them).
fn declared_schemas_compile(tool: &Value) -> Vec<String> {
    let name = tool["name"].as_str().unwrap_or("?");
    let mut problems = Vec::new();
    for key in ["inputSchema", "outputSchema"] {
        if let Some(schema) = tool.get(key) {
            if let Err(e) = jsonschema::meta::validate(schema) {
                problems.push(format!("tool `{name}`: its {key} is not a valid JSON Schema: {e}"));
            } else if let Err(e) = jsonschema::validator_for(schema) {
                problems.push(format!("tool `{name}`: its {key} does not compile: {e}"));
            }
        }
    }
    problems
}

/// Runs `served` in `revision` and returns every problem found, each naming where it is.
fn problems(served_name: &str, revision: &'static str) -> Vec<String> {
    let spec = Spec::load(revision);
    let scratch = Scratch::new();
    let mut served = Served::new(served_name, &scratch);
    // Small pages, so that every page (and its nextCursor) is checked, not just the one.
    served.args.extend([String::from("--page-size"), PAGE_SIZE.to_string()]);
    let (mut wire, opened) = Wire::open(&served, &scratch, revision);
    let mut problems = Vec::new();
    let whole = |_: &str| "the result".to_owned();

    // The opening answer, and the revision it settles on.
    if revision == MODERN_REVISION {
        problems.extend(spec.violations("DiscoverResult", &opened, whole));
        let versions = opened["supportedVersions"].as_array().cloned().unwrap_or_default();
        if !versions.contains(&json!(MODERN_REVISION)) {
            problems.push(format!("server/discover: supportedVersions {versions:?} lacks {MODERN_REVISION}"));
        }
    } else {
        problems.extend(spec.violations("InitializeResult", &opened, whole));
        if opened["protocolVersion"] != revision {
            problems.push(format!(
                "initialize: asked for {revision}, answered {} (a revision it speaks must be kept)",
                opened["protocolVersion"]
            ));
        }
    }
    let capabilities = opened["capabilities"].clone();

    // Every page of tools/list.
    let mut tools: Vec<Value> = Vec::new();
    let pages = wire.pages("tools/list");
    for page in &pages {
        problems.extend(spec.violations("ListToolsResult", page, |path| tool_at(page, path)));
        tools.extend(page["tools"].as_array().cloned().unwrap_or_default());
    }
    if pages.len() != tools.len().div_ceil(PAGE_SIZE).max(1) {
        problems.push(format!(
            "tools/list: {} tools came in {} pages of at most {PAGE_SIZE}",
            tools.len(),
            pages.len()
        ));
    }
    let names: BTreeSet<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    for wanted in &served.lists {
        if !names.contains(wanted) {
            problems.push(format!("tools/list: `{wanted}` is not listed (listed: {names:?})"));
        }
    }
    for tool in &tools {
        problems.extend(declared_schemas_compile(tool));
    }

    // The other lists, where the server says it has them.
    for (capability, method, definition) in [
        ("resources", "resources/list", "ListResourcesResult"),
        ("resources", "resources/templates/list", "ListResourceTemplatesResult"),
        ("prompts", "prompts/list", "ListPromptsResult"),
    ] {
        if capabilities.get(capability).is_some() {
            for page in wire.pages(method) {
                problems.extend(spec.violations(definition, &page, |path| format!("{method} result at {path}")));
            }
        }
    }

    // One call at least of each native server it serves.
    for call in &served.calls {
        let result = match wire.request("tools/call", json!({"name": call.tool, "arguments": call.arguments})) {
            Ok(result) => result,
            Err(error) => {
                problems.push(format!("tools/call `{}`: a JSON-RPC error: {error}", call.tool));
                continue;
            }
        };
        problems.extend(
            spec.violations("CallToolResult", &result, |path| format!("tools/call `{}` result at {path}", call.tool)),
        );
        let text: Vec<&str> =
            result["content"].as_array().into_iter().flatten().filter_map(|c| c["text"].as_str()).collect();
        let structured = result.get("structuredContent").cloned().unwrap_or(Value::Null);
        // 2025-03-26 has no structured content: only the text is checked there.
        let expected = if revision == "2025-03-26" {
            crate::support::PlannedCall { structured: None, ..call.clone() }
        } else {
            call.clone()
        };
        if let Err(e) = expected.check(result["isError"] == true, &text.join("\n"), &structured) {
            problems.push(format!("tools/call {e}"));
        }
        // What a strict client does with it: structured content against the declared outputSchema.
        let declared = tools.iter().find(|t| t["name"] == call.tool).and_then(|t| t.get("outputSchema"));
        if let (Some(schema), false) = (declared, structured.is_null()) {
            if let Ok(validator) = jsonschema::validator_for(schema) {
                for e in validator.iter_errors(&structured) {
                    problems.push(format!(
                        "tools/call `{}`: structuredContent breaks its outputSchema at `{}`: {e}",
                        call.tool,
                        e.instance_path()
                    ));
                }
            }
        } else if declared.is_some() && result["isError"] != true && revision != "2025-03-26" {
            problems
                .push(format!("tools/call `{}`: declares an outputSchema but sent no structuredContent", call.tool));
        }
    }
    problems
}

fn check(served: &str, revision: &'static str) {
    let problems = problems(served, revision);
    assert!(
        problems.is_empty(),
        "`mcptk {served}` in {revision} breaks the {revision} schema or the plan ({} problems):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// One test per revision for one served configuration.
macro_rules! per_revision {
    ($served:ident: $($test:ident = $revision:literal),*) => {
        mod $served {
            pub const REVISIONS: &[&str] = &[$($revision),*];
            $(
                #[test]
                fn $test() {
                    super::check(stringify!($served), $revision);
                }
            )*
        }
    };
}

macro_rules! served {
    ($($served:ident),*) => {
        /// The configurations with tests here, to compare with `Served::NAMES`.
        const COVERED: &[&str] = &[$(stringify!($served)),*];
        /// The revisions each configuration is checked in.
        const REVISIONS_BY_SERVED: &[&[&str]] = &[$($served::REVISIONS),*];
        $(
            per_revision!($served:
                v2025_03_26 = "2025-03-26", v2025_06_18 = "2025-06-18", v2025_11_25 = "2025-11-25", v2026_07_28 = "2026-07-28");
        )*
    };
}

served!(gateway, builtin, fs, shell, sql, perplexity, docker, k8s);

#[test]
fn every_served_configuration_is_checked_in_every_revision() {
    assert_eq!(COVERED, Served::NAMES);
    let every: Vec<&str> = HANDSHAKE_REVISIONS.into_iter().chain([MODERN_REVISION]).collect();
    for revisions in REVISIONS_BY_SERVED {
        assert_eq!(*revisions, every);
    }
}

/// The checks above must be able to fail: the schemas reject what strict clients reject.
#[test]
fn the_vendored_schemas_reject_what_strict_clients_reject() {
    for revision in HANDSHAKE_REVISIONS.into_iter().chain([MODERN_REVISION]) {
        let spec = Spec::load(revision);
        // A tools/list page as that revision frames it.
        let page = |tools: Value| {
            let mut page = json!({ "tools": tools });
            if revision == MODERN_REVISION {
                page["resultType"] = json!("complete");
                page["cacheScope"] = json!("public");
                page["ttlMs"] = json!(0);
            }
            page
        };
        let fine = json!({"name": "fine", "inputSchema": {"type": "object"}});
        let good = page(json!([fine]));
        assert_eq!(
            spec.violations("ListToolsResult", &good, |p| tool_at(&good, p)),
            Vec::<String>::new(),
            "{revision}"
        );

        let no_input = page(json!([fine, {"name": "no_input"}]));
        let found = spec.violations("ListToolsResult", &no_input, |p| tool_at(&no_input, p));
        assert!(found.iter().any(|p| p.contains("tool `no_input`")), "{revision}: no inputSchema passed: {found:?}");

        let output = json!({"properties": {"ok": {"type": "boolean"}}});
        let no_type =
            page(json!([fine, {"name": "bad_output", "inputSchema": {"type": "object"}, "outputSchema": output}]));
        let found = spec.violations("ListToolsResult", &no_type, |p| tool_at(&no_type, p));
        if revision == "2025-06-18" || revision == "2025-11-25" {
            // What the TypeScript SDK 1.x and Python `mcp` in legacy mode refuse.
            assert!(
                found.iter().any(|p| p.contains("tool `bad_output`") && p.contains("`/tools/1/outputSchema")),
                "{revision}: an outputSchema without \"type\": \"object\" passed: {found:?}"
            );
        } else {
            // 2025-03-26 has no outputSchema; 2026-07-28 takes any JSON Schema there.
            assert_eq!(found, Vec::<String>::new(), "{revision}");
        }

        let text_only = json!({"content": [{"type": "text", "text": "hi"}]});
        let mut result = text_only.clone();
        if revision == MODERN_REVISION {
            result["resultType"] = json!("complete");
        }
        assert_eq!(spec.violations("CallToolResult", &result, |_| String::new()), Vec::<String>::new(), "{revision}");
        result["content"][0] = json!({"type": "text"});
        assert!(!spec.violations("CallToolResult", &result, |_| String::new()).is_empty(), "{revision}");
    }
    // Handshake-era structured content is an object.
    let scalar = json!({"content": [], "structuredContent": 42});
    for revision in ["2025-06-18", "2025-11-25"] {
        assert!(
            !Spec::load(revision).violations("CallToolResult", &scalar, |_| String::new()).is_empty(),
            "{revision}"
        );
    }
}
