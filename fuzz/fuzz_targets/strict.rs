//! mcp-openai's strict-schema converter on arbitrary JSON schemas: the input is a schema when it
//! is a JSON object (the seeds are real tools' input schemas), else a schema of bounded depth is
//! built from it, out of the keywords the converter knows and some it does not.
//!
//! - Converting never panics, and neither does restoring arbitrary arguments.
//! - When a valid JSON Schema converts, the result keeps the strict-mode rules strict.rs states:
//!   only keywords strict mode takes, every node typed, arrays with `items`, every object closed
//!   (`additionalProperties: false`) with every property in `required`, formats strict mode
//!   knows, every `$ref` pointing into the schema's own `$defs`, and no more than
//!   `MAX_PROPERTIES` properties and `MAX_ENUM_VALUES` enum values in all.
//! - Optional stays optional: a property the original does not require accepts `null` in the
//!   converted schema (the model's "not given"), at every depth where both schemas are objects.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use mcp_openai::strict::{MAX_ENUM_VALUES, MAX_PROPERTIES, convert};
use mcptk_fuzz::{json, word};
use serde_json::{Map, Value};

const TYPES: &[&str] = &["object", "string", "integer", "number", "boolean", "array", "null"];
const FORMATS: &[&str] = &["date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"];
const NAMES: &[&str] = &["a", "b", "path", "0", "1", "key", "value", "$defs", "properties"];
const ALLOWED: &[&str] = &[
    "type",
    "description",
    "title",
    "enum",
    "const",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "format",
    "items",
    "anyOf",
    "$ref",
    "properties",
    "required",
    "additionalProperties",
];

fn type_value(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(if u.ratio(3, 4)? {
        Value::from(*u.choose(TYPES)?)
    } else {
        let mut types: Vec<Value> = Vec::new();
        for _ in 0..u.int_in_range(1..=3)? {
            types.push(Value::from(*u.choose(TYPES)?));
        }
        Value::Array(types)
    })
}

/// A schema at most `depth` levels deep, mostly well-formed.
fn schema(u: &mut Unstructured<'_>, depth: usize) -> Result<Value> {
    if u.ratio(1, 20)? {
        return json(u, 2, ALLOWED);
    }
    let mut map = Map::new();
    for _ in 0..u.int_in_range(0..=5)? {
        let (key, value) = match u.int_in_range(0..=27)? {
            0..=3 => ("type", type_value(u)?),
            4 | 5 if depth > 0 => {
                let mut props = Map::new();
                for _ in 0..u.int_in_range(0..=3)? {
                    props.insert(word(u, NAMES)?, schema(u, depth - 1)?);
                }
                ("properties", Value::Object(props))
            }
            6 => {
                let names: Result<Vec<Value>> =
                    (0..u.int_in_range(0..=3)?).map(|_| Ok(Value::from(word(u, NAMES)?))).collect();
                ("required", Value::Array(names?))
            }
            7 if depth > 0 => {
                ("items", if u.ratio(1, 8)? { Value::Bool(u.arbitrary()?) } else { schema(u, depth - 1)? })
            }
            8 | 9 if depth > 0 => {
                let key = *u.choose(&["anyOf", "oneOf", "allOf"])?;
                let branches: Result<Vec<Value>> = (0..u.int_in_range(0..=3)?).map(|_| schema(u, depth - 1)).collect();
                (key, Value::Array(branches?))
            }
            10 => {
                let prefix = *u.choose(&["#/$defs/", "#/definitions/", "#/properties/", "other.json#/"])?;
                ("$ref", Value::from(format!("{prefix}{}", word(u, NAMES)?)))
            }
            11 => {
                // Sometimes many values, to reach the limit on enum values.
                let values: Vec<Value> = if u.ratio(1, 10)? {
                    (0..u.int_in_range(0..=1200)?).map(Value::from).collect()
                } else {
                    let values: Result<Vec<Value>> = (0..u.int_in_range(0..=4)?).map(|_| json(u, 0, NAMES)).collect();
                    values?
                };
                ("enum", Value::Array(values))
            }
            12 => ("const", json(u, 1, NAMES)?),
            13 if depth > 0 => {
                let items: Result<Vec<Value>> = (0..u.int_in_range(0..=3)?).map(|_| schema(u, depth - 1)).collect();
                ("prefixItems", Value::Array(items?))
            }
            14 => (
                "additionalProperties",
                if u.arbitrary()? { Value::Bool(u.arbitrary()?) } else { schema(u, depth.saturating_sub(1))? },
            ),
            15 => ("format", Value::from(word(u, FORMATS)?)),
            16 => ("description", Value::from(word(u, &["text", ""])?)),
            17 => ("default", json(u, 1, NAMES)?),
            18 => (
                *u.choose(&[
                    "minLength",
                    "maxLength",
                    "minItems",
                    "maxItems",
                    "minProperties",
                    "maxProperties",
                    "minimum",
                ])?,
                Value::from(u.int_in_range(0..=3)?),
            ),
            19 => ("uniqueItems", Value::Bool(u.arbitrary()?)),
            20 if depth > 0 => {
                let mut defs = Map::new();
                for _ in 0..u.int_in_range(0..=2)? {
                    defs.insert(word(u, NAMES)?, schema(u, depth - 1)?);
                }
                (*u.choose(&["$defs", "definitions"])?, Value::Object(defs))
            }
            21 if depth > 0 => (*u.choose(&["not", "if", "contains", "propertyNames"])?, schema(u, depth - 1)?),
            22 => ("pattern", Value::from(word(u, &["^a+$", "["])?)),
            23 => ("title", Value::from(word(u, &["T"])?)),
            24 => {
                (*u.choose(&["$schema", "$id", "$comment", "examples", "readOnly", "deprecated"])?, json(u, 1, NAMES)?)
            }
            25 => {
                let mut deps = Map::new();
                deps.insert(word(u, NAMES)?, Value::Array(vec![Value::from(word(u, NAMES)?)]));
                ("dependentRequired", Value::Object(deps))
            }
            _ => continue,
        };
        map.insert(key.to_owned(), value);
    }
    Ok(Value::Object(map))
}

/// The input: a JSON object given as such, or one built from the bytes.
fn input(data: &[u8]) -> Result<(Map<String, Value>, Unstructured<'_>)> {
    if data.first() == Some(&b'{')
        && let Ok(Value::Object(map)) = serde_json::from_slice(data)
    {
        return Ok((map, Unstructured::new(&[])));
    }
    let mut u = Unstructured::new(data);
    let mut root = match schema(&mut u, 4)? {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if u.ratio(3, 4)? {
        root.insert("type".into(), Value::from("object"));
    }
    Ok((root, u))
}

fn type_includes(schema: &Map<String, Value>, name: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(s)) => s == name,
        Some(Value::Array(a)) => a.iter().any(|t| t.as_str() == Some(name)),
        _ => false,
    }
}

/// Checks one node of the converted schema and those below it; returns the count of properties
/// and enum values seen.
fn check(node: &Value, path: &str, defs: &Map<String, Value>, counts: &mut (usize, usize)) {
    let Value::Object(schema) = node else { panic!("`{path}` is not a schema object: {node}") };
    for key in schema.keys() {
        assert!(ALLOWED.contains(&key.as_str()) || (path.is_empty() && key == "$defs"), "`{path}` keeps `{key}`");
    }
    assert!(["type", "enum", "const", "anyOf", "$ref"].iter().any(|k| schema.contains_key(*k)), "`{path}` has no type");
    if let Some(format) = schema.get("format") {
        assert!(format.as_str().is_some_and(|f| FORMATS.contains(&f)), "`{path}` has format {format}");
    }
    if let Some(target) = schema.get("$ref") {
        let name = target.as_str().and_then(|t| t.strip_prefix("#/$defs/"));
        assert!(name.is_some_and(|n| defs.contains_key(n)), "`{path}` refers to {target}, not one of its $defs");
    }
    if let Some(values) = schema.get("enum") {
        counts.1 += values.as_array().map_or(0, Vec::len);
    }
    if type_includes(schema, "array") {
        assert!(schema.contains_key("items"), "`{path}` is an array without items");
    }
    if type_includes(schema, "object") || schema.contains_key("properties") {
        let props = schema.get("properties").and_then(Value::as_object);
        let props = props.unwrap_or_else(|| panic!("`{path}` is an object without properties"));
        let mut required: Vec<&str> =
            schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        required.sort_unstable();
        let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(required, names, "`{path}` does not require every property");
        assert_eq!(schema.get("additionalProperties"), Some(&Value::Bool(false)), "`{path}` is not closed");
        for (name, prop) in props {
            counts.0 += 1;
            check(prop, &format!("{path}.{name}"), defs, counts);
        }
    }
    if let Some(items) = schema.get("items") {
        check(items, &format!("{path}[]"), defs, counts);
    }
    if let Some(branches) = schema.get("anyOf") {
        let branches = branches.as_array().unwrap_or_else(|| panic!("`{path}.anyOf` is not a list"));
        for (i, branch) in branches.iter().enumerate() {
            check(branch, &format!("{path}.anyOf[{i}]"), defs, counts);
        }
    }
}

/// Whether `null` is valid against a converted schema (whose keywords are all known).
fn accepts_null(node: &Value, defs: &Map<String, Value>, depth: usize) -> bool {
    let Value::Object(schema) = node else { return node == &Value::Bool(true) };
    if depth > 32 {
        return true;
    }
    let typed = schema.get("type").is_none_or(|_| type_includes(schema, "null"));
    let listed = schema.get("enum").is_none_or(|e| e.as_array().is_some_and(|e| e.contains(&Value::Null)));
    let constant = schema.get("const").is_none_or(Value::is_null);
    let branch = schema
        .get("anyOf")
        .is_none_or(|b| b.as_array().is_some_and(|b| b.iter().any(|s| accepts_null(s, defs, depth + 1))));
    let referred = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|t| t.strip_prefix("#/$defs/"))
        .and_then(|n| defs.get(n))
        .is_none_or(|target| accepts_null(target, defs, depth + 1));
    typed && listed && constant && branch && referred
}

/// Every property the original leaves optional accepts `null` after conversion, where the
/// original and the converted schema are objects with properties side by side.
fn optional_stays_optional(original: &Map<String, Value>, converted: &Value, defs: &Map<String, Value>, path: &str) {
    // Only where the converter sees an object: not a tuple, not an `allOf` to merge first.
    let typed_object = match original.get("type") {
        None => true,
        Some(_) => type_includes(original, "object"),
    };
    if !typed_object || original.contains_key("prefixItems") || original.contains_key("allOf") {
        return;
    }
    let (Some(Value::Object(props)), Some(Value::Object(out))) =
        (original.get("properties"), converted.get("properties"))
    else {
        return;
    };
    let required: Vec<&str> =
        original.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    for (name, prop) in props {
        let converted_prop = out.get(name).unwrap_or_else(|| panic!("`{path}.{name}` was lost"));
        if !required.contains(&name.as_str()) {
            assert!(
                accepts_null(converted_prop, defs, 0),
                "optional `{path}.{name}` does not accept null: {converted_prop}"
            );
        }
        if let Value::Object(prop) = prop {
            optional_stays_optional(prop, converted_prop, defs, &format!("{path}.{name}"));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok((original, mut u)) = input(data) else { return };
    // Replaying a crash with FUZZ_SHOW set prints the schema, to keep as a regression.
    if std::env::var_os("FUZZ_SHOW").is_some() {
        eprintln!("{}", Value::Object(original.clone()));
    }
    let Ok(strict) = convert(&original) else { return };
    let arguments = json(&mut u, 4, NAMES).unwrap_or_default();
    if let Value::Object(mut arguments) = arguments {
        strict.restore(&mut arguments);
    }
    // The rules hold for what is a schema to begin with.
    if !jsonschema::draft202012::meta::is_valid(&Value::Object(original.clone())) {
        return;
    }
    let converted = Value::Object(strict.schema.clone());
    let defs = strict.schema.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut counts = (0, 0);
    check(&converted, "", &defs, &mut counts);
    for (name, def) in &defs {
        check(def, &format!("$defs.{name}"), &defs, &mut counts);
    }
    assert!(counts.0 <= MAX_PROPERTIES, "{} properties", counts.0);
    assert!(counts.1 <= MAX_ENUM_VALUES, "{} enum values", counts.1);
    optional_stays_optional(&original, &converted, &defs, "arguments");
});
