//! Strict conversion of tool schemas: every schema of the reference servers, and the cases
//! where keeping optional parameters optional matters.

use std::path::PathBuf;

use mcp_core::protocol::Tool;
use mcp_openai::{FunctionTool, FunctionTools, strict};
use serde_json::{Map, Value, json};

fn reference_tools() -> Vec<(String, Vec<Tool>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference/server-tools");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("reference dir").map(|e| e.expect("entry").path()).collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read");
            let value: Value = serde_json::from_str(&text).expect("json");
            let tools: Vec<Tool> = serde_json::from_value(value["tools"].clone()).expect("tools");
            (path.file_stem().expect("stem").to_string_lossy().into_owned(), tools)
        })
        .collect()
}

/// What strict mode requires, checked independently of the converter: every object closed with
/// every property required, no keyword outside the supported set, anywhere.
fn assert_strict_shape(schema: &Value, path: &str) {
    const ALLOWED: &[&str] = &[
        "type",
        "description",
        "title",
        "enum",
        "const",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
        "items",
        "anyOf",
        "$ref",
        "$defs",
        "properties",
        "required",
        "additionalProperties",
    ];
    let map = schema.as_object().unwrap_or_else(|| panic!("{path}: not an object: {schema}"));
    for key in map.keys() {
        assert!(ALLOWED.contains(&key.as_str()), "{path}: keyword `{key}` is not accepted by strict mode");
    }
    if map.get("type").is_some_and(|t| t == "object" || t.as_array().is_some_and(|a| a.contains(&json!("object")))) {
        assert_eq!(map.get("additionalProperties"), Some(&json!(false)), "{path}: object not closed");
        let props = map["properties"].as_object().expect("properties");
        let mut required: Vec<&str> =
            map["required"].as_array().expect("required").iter().filter_map(Value::as_str).collect();
        let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
        required.sort_unstable();
        keys.sort_unstable();
        assert_eq!(required, keys, "{path}: every property must be required");
        for (k, v) in props {
            assert_strict_shape(v, &format!("{path}.{k}"));
        }
    }
    if let Some(items) = map.get("items") {
        assert_strict_shape(items, &format!("{path}[]"));
    }
    for (i, branch) in map.get("anyOf").and_then(Value::as_array).into_iter().flatten().enumerate() {
        assert_strict_shape(branch, &format!("{path}.anyOf[{i}]"));
    }
    for (k, v) in map.get("$defs").and_then(Value::as_object).into_iter().flatten() {
        assert_strict_shape(v, &format!("{path}.$defs.{k}"));
    }
}

fn valid(schema: &Value, instance: &Value) -> Result<(), String> {
    let validator = jsonschema::validator_for(schema).map_err(|e| format!("schema does not compile: {e}"))?;
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
}

#[test]
fn every_reference_schema_converts_or_says_why_not() {
    let mut total = 0;
    let mut strict_count = 0;
    let mut report = Vec::new();
    for (file, tools) in reference_tools() {
        let mut file_strict = 0;
        for tool in &tools {
            total += 1;
            let converted = FunctionTool::new(tool.name.clone(), &file, tool.clone());
            let parameters = Value::Object(converted.parameters.clone());
            jsonschema::validator_for(&parameters)
                .unwrap_or_else(|e| panic!("{file}/{}: converted schema does not compile: {e}", tool.name));
            match &converted.not_strict {
                None => {
                    strict_count += 1;
                    file_strict += 1;
                    assert_strict_shape(&parameters, &format!("{file}/{}", tool.name));
                    check_optional_stays_optional(&file, tool, &converted);
                }
                Some(reason) => {
                    assert!(
                        reason.contains('`') || reason.contains("top level"),
                        "{file}/{}: vague reason {reason}",
                        tool.name
                    );
                    report.push(format!("  {file}/{}: {reason}", tool.name));
                }
            }
        }
        println!("{file}: {file_strict} of {} strict", tools.len());
    }
    println!("strict: {strict_count} of {total} tool schemas");
    println!("{}", report.join("\n"));
    assert_eq!(total, 314, "the reference lists changed");
    // Measured; a drop means the converter got worse.
    assert!(strict_count >= 314, "only {strict_count} of {total} strict");
}

/// For each originally optional top-level property: the model may send `null` (strict form),
/// and after stripping the call carries no such key, so the original schema's rules apply.
fn check_optional_stays_optional(file: &str, tool: &Tool, converted: &FunctionTool) {
    let required: Vec<&str> = tool
        .input_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let props = converted.parameters["properties"].as_object().expect("properties");
    let mut model_args = Map::new();
    for (name, schema) in props {
        if required.contains(&name.as_str()) {
            continue;
        }
        let with_defs = match converted.parameters.get("$defs") {
            Some(defs) => {
                let mut s = schema.clone();
                s["$defs"] = defs.clone();
                s
            }
            None => schema.clone(),
        };
        valid(&with_defs, &Value::Null)
            .unwrap_or_else(|e| panic!("{file}/{}: optional `{name}` does not take null: {e}", tool.name));
        model_args.insert(name.clone(), Value::Null);
    }
    let stripped = converted.arguments(&Value::Object(model_args).to_string()).expect("arguments");
    for (name, value) in &stripped {
        let original_allows_null = tool.input_schema["properties"][name]["type"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("null")))
            || tool.input_schema["properties"][name].get("anyOf").is_some_and(|a| a.to_string().contains("\"null\""))
            || tool.input_schema["properties"][name].get("default").is_some_and(Value::is_null);
        assert!(original_allows_null, "{file}/{}: `{name}` = {value} left in after stripping", tool.name);
    }
}

fn tool(schema: Value) -> Tool {
    serde_json::from_value(json!({"name": "t", "description": "d", "inputSchema": schema})).expect("tool")
}

#[test]
fn optional_parameters_become_nullable_and_their_nulls_are_removed_at_every_depth() {
    let original = json!({
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "limit": {"type": "integer", "minimum": 1, "default": 10},
            "mode": {"type": "string", "enum": ["fast", "safe"]},
            "edits": {"type": "array", "items": {
                "type": "object",
                "properties": {"old": {"type": "string"}, "new": {"type": "string"}, "all": {"type": "boolean"}},
                "required": ["old", "new"]
            }},
            "owner": {"$ref": "#/$defs/user"},
            "when": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}]},
            "note": {"type": ["string", "null"]}
        },
        "required": ["path"],
        "$defs": {"user": {"type": "object", "properties": {"login": {"type": "string"}, "id": {"type": "integer"}}, "required": ["login"]}}
    });
    let function = FunctionTool::new("t".into(), "s", tool(original.clone()));
    assert!(function.is_strict(), "{:?}", function.not_strict);
    let parameters = Value::Object(function.parameters.clone());
    assert_strict_shape(&parameters, "t");
    assert_eq!(parameters["properties"]["limit"]["type"], json!(["integer", "null"]));
    assert!(parameters["properties"]["limit"]["description"].as_str().expect("note").contains("default: 10"));
    assert_eq!(parameters["properties"]["mode"]["enum"], json!(["fast", "safe", null]));
    assert_eq!(parameters["properties"]["path"]["type"], json!("string"), "required stays non-null");
    assert_eq!(parameters["properties"]["note"]["type"], json!(["string", "null"]), "already nullable: untouched");

    // What a strict model sends: every key present, nulls for the ones it leaves out.
    let sent = json!({
        "path": "a.txt", "limit": null, "mode": null,
        "edits": [{"old": "x", "new": "y", "all": null}, {"old": "p", "new": "q", "all": true}],
        "owner": {"login": "octo", "id": null}, "when": null, "note": null
    });
    valid(&parameters, &sent).expect("the model's arguments fit the strict schema");
    let arguments = function.arguments(&sent.to_string()).expect("parse");
    let arguments = Value::Object(arguments);
    assert_eq!(
        arguments,
        json!({"path": "a.txt", "edits": [{"old": "x", "new": "y"}, {"old": "p", "new": "q", "all": true}],
               "owner": {"login": "octo"}, "note": null})
    );
    valid(&original, &arguments).expect("the stripped arguments fit the tool's own schema");
}

#[test]
fn maps_travel_as_key_value_lists_and_come_back_as_objects() {
    let original = json!({
        "type": "object",
        "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Labels."},
            "values": {"type": "object", "description": "Helm values."},
            "env": {"anyOf": [{"type": "object", "additionalProperties": {"type": "string"}}, {"type": "null"}]},
            "ports": {"type": "object", "additionalProperties": {"anyOf": [
                {"type": "integer"},
                {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "minItems": 2, "maxItems": 2}
            ]}}
        },
        "required": ["labels"]
    });
    let function = FunctionTool::new("t".into(), "s", tool(original.clone()));
    assert!(function.is_strict(), "{:?}", function.not_strict);
    let parameters = Value::Object(function.parameters.clone());
    assert_strict_shape(&parameters, "t");
    assert_eq!(parameters["properties"]["labels"]["type"], "array");
    assert!(parameters["properties"]["labels"]["description"].as_str().expect("d").starts_with("Labels."));
    let sent = json!({
        "labels": [{"key": "app", "value": "web"}, {"key": "tier", "value": "front"}],
        "values": [{"key": "replicas", "value": "3"}, {"key": "image", "value": "{\"tag\": \"1.2\"}"}, {"key": "raw", "value": "not json"}],
        "env": [{"key": "RUST_LOG", "value": "debug"}],
        "ports": [{"key": "80/tcp", "value": 8080}, {"key": "443/tcp", "value": {"0": "127.0.0.1", "1": 8443}}]
    });
    valid(&parameters, &sent).expect("fits the strict schema");
    let arguments = Value::Object(function.arguments(&sent.to_string()).expect("parse"));
    assert_eq!(
        arguments,
        json!({
            "labels": {"app": "web", "tier": "front"},
            "values": {"replicas": 3, "image": {"tag": "1.2"}, "raw": "not json"},
            "env": {"RUST_LOG": "debug"},
            "ports": {"80/tcp": 8080, "443/tcp": ["127.0.0.1", 8443]}
        })
    );
    valid(&original, &arguments).expect("fits the tool's own schema");
    let none = Value::Object(
        function.arguments(r#"{"labels": [], "values": null, "env": null, "ports": null}"#).expect("parse"),
    );
    assert_eq!(none, json!({"labels": {}, "env": null}), "env was nullable already; values was optional");
}

#[test]
fn schemas_strict_mode_cannot_hold_are_sent_non_strict_with_the_reason() {
    let cases = [
        (json!({"type": "object", "properties": {"value": {"description": "anything"}}}), "no type"),
        (json!({"anyOf": [{"type": "object"}, {"type": "string"}]}), "top level"),
        (json!({"type": "object", "properties": {"a": {"type": "string", "not": {"const": "x"}}}}), "`not`"),
        (
            json!({"type": "object", "properties": {"p": {"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "integer"}}}}),
            "further items",
        ),
        (json!({"type": "object", "properties": {"list": {"type": "array"}}}), "no `items`"),
        (json!({"type": "object", "additionalProperties": true}), "free-form"),
    ];
    for (schema, why) in cases {
        let function = FunctionTool::new("t".into(), "s", tool(schema.clone()));
        let reason = function.not_strict.clone().unwrap_or_else(|| panic!("{schema} was made strict"));
        assert!(reason.contains(why), "{schema}: {reason}");
        assert_eq!(function.chat_json()["function"]["strict"], json!(false), "strict is sent explicitly");
        // Non-strict arguments pass through untouched, nulls included.
        let args = function.arguments(r#"{"x": null}"#).expect("parse");
        assert_eq!(Value::Object(args), json!({"x": null}));
    }
    // A tool without arguments is strict with an empty closed object.
    let none = FunctionTool::new("t".into(), "s", tool(json!({"type": "object"})));
    assert!(none.is_strict());
    assert_eq!(
        Value::Object(none.parameters.clone()),
        json!({"type": "object", "properties": {}, "required": [], "additionalProperties": false})
    );
}

#[test]
fn unsupported_constraints_are_kept_in_words_and_limits_are_enforced() {
    let function = FunctionTool::new(
        "t".into(),
        "s",
        tool(json!({"type": "object", "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 40, "format": "hostname-ish"},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
            "choice": {"oneOf": [{"type": "string"}, {"type": "integer"}]}
        }, "required": ["name"], "dependentRequired": {"tags": ["choice"]}, "$schema": "https://json-schema.org/draft/2020-12/schema"})),
    );
    assert!(function.is_strict(), "{:?}", function.not_strict);
    let p = Value::Object(function.parameters.clone());
    let name = p["properties"]["name"]["description"].as_str().expect("described");
    assert!(
        name.contains("at least 1 characters")
            && name.contains("at most 40 characters")
            && name.contains("hostname-ish"),
        "{name}"
    );
    assert!(p["properties"]["tags"]["description"].as_str().expect("tags").contains("distinct"));
    assert!(p["properties"]["choice"].get("anyOf").is_some(), "oneOf becomes anyOf");
    assert!(p["description"].as_str().expect("root note").contains("when `tags` is given, `choice` must be given too"));
    assert!(p.get("$schema").is_none());

    // Deeper than ten levels cannot be strict.
    let mut deep = json!({"type": "string"});
    for _ in 0..11 {
        deep = json!({"type": "object", "properties": {"x": deep}, "required": ["x"]});
    }
    let error = strict::convert(deep.as_object().expect("object")).expect_err("too deep");
    assert!(error.contains("deeper"), "{error}");
}

#[test]
fn names_are_valid_unique_across_servers_and_map_back() {
    let search = tool(json!({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}));
    let mut odd = search.clone();
    odd.name = "pods/list with spaces".into();
    let mut long = search.clone();
    long.name = "x".repeat(100);
    let mut one = search.clone();
    one.name = "search".into();
    let servers = vec![
        ("github".to_owned(), vec![one.clone(), odd.clone(), long.clone()]),
        ("my.fs".to_owned(), vec![one.clone()]),
    ];
    let tools = FunctionTools::new(&servers);
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    let re = |n: &str| {
        !n.is_empty() && n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    assert!(names.iter().all(|n| re(n)), "{names:?}");
    let unique: std::collections::HashSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert_eq!(names[0], "github__search");
    for t in tools.iter() {
        let back = tools.get(&t.name).expect("resolves");
        assert_eq!((back.server.as_str(), back.tool.as_str()), (t.server.as_str(), t.tool.as_str()));
    }
    let fs = tools.iter().find(|t| t.server == "my.fs").expect("fs");
    assert_eq!(fs.tool, "search");
    // One server: names stay bare.
    let single = FunctionTools::new(&servers[..1]);
    assert_eq!(single.iter().next().expect("first").name, "search");
    // Both wire formats, strict sent explicitly.
    let chat = tools.chat_json();
    assert_eq!(chat[0]["type"], "function");
    assert_eq!(chat[0]["function"]["name"], "github__search");
    assert_eq!(chat[0]["function"]["strict"], true);
    let responses = tools.responses_json();
    assert_eq!(responses[0]["name"], "github__search");
    assert_eq!(responses[0]["strict"], true);
    assert!(responses[0].get("function").is_none());
}

/// A schema kept under `fuzz/regressions/strict/`, where the `strict` fuzz target found it.
fn regression(name: &str) -> Map<String, Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/strict").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("a JSON object")
}

#[test]
fn an_empty_tuple_is_an_empty_closed_object_and_comes_back_as_an_empty_list() {
    // It panicked: the note counted its last index as `len - 1`.
    let converted = strict::convert(&regression("empty-tuple.json")).expect("converts");
    let t = &converted.schema["properties"]["t"];
    assert_eq!(t["properties"], json!({}));
    assert_eq!(t["required"], json!([]));
    assert!(t["description"].as_str().expect("described").contains("an empty list"), "{t}");
    let mut arguments = json!({"t": {}}).as_object().cloned().expect("object");
    converted.restore(&mut arguments);
    assert_eq!(Value::Object(arguments), json!({"t": []}));
}

#[test]
fn a_reference_to_no_definition_is_not_sent_strict() {
    // Strict mode resolves every `$ref`; this one named nothing, and was sent as strict.
    let error = strict::convert(&regression("dangling-ref.json")).expect_err("a dangling reference");
    assert!(error.contains("#/$defs/nothere") && error.contains(".r"), "{error}");
}

#[test]
fn the_null_added_to_an_optional_enum_counts_toward_the_limit() {
    // 1000 values were within the limit, and the `null` that keeps the parameter optional made 1001.
    let error = strict::convert(&regression("optional-enum-at-the-limit.json")).expect_err("over the limit");
    assert!(error.contains("1001 enum values"), "{error}");
}

#[test]
fn optional_parameters_accept_null_whatever_keywords_stand_beside_their_type() {
    // An enum holding `null` beside a type without it, a constant beside a type, a choice beside
    // a type: each was taken as accepting `null` already, or given a `null` another keyword refused,
    // so the model could not leave the parameter out.
    let original = regression("optional-beside-other-keywords.json");
    let converted = strict::convert(&original).expect("converts");
    let parameters = Value::Object(converted.schema.clone());
    assert_strict_shape(&parameters, "t");
    let sent = json!({"a": null, "c": null, "t": null});
    valid(&parameters, &sent).expect("every optional parameter may be null");
    let mut arguments = sent.as_object().cloned().expect("object");
    converted.restore(&mut arguments);
    assert_eq!(Value::Object(arguments.clone()), json!({}));
    valid(&Value::Object(original), &Value::Object(arguments)).expect("left out, as the tool allows");
    valid(&parameters, &json!({"a": 1, "c": 5, "t": "abc"})).expect("real values still fit");
    valid(&parameters, &json!({"a": 2, "c": 5, "t": "abc"})).expect_err("the enum still holds");
}

#[test]
fn an_object_that_may_be_another_type_is_not_sent_strict() {
    // `["array", "object"]` was closed as an object and sent as an array without `items`.
    let error = strict::convert(&regression("object-or-array.json")).expect_err("two kinds in one");
    assert!(error.contains(".path") && error.contains("another type"), "{error}");
    let nullable = json!({"type": "object", "properties": {"o": {"type": ["object", "null"], "properties": {"a": {"type": "string"}}}}});
    strict::convert(nullable.as_object().expect("object")).expect("a nullable object is still an object");
}
