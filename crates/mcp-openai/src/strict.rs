//! Tool input schemas made acceptable to OpenAI's strict mode without changing what a tool accepts.
//!
//! Strict mode wants every object closed (`additionalProperties: false`) and every property listed
//! in `required`. An optional parameter therefore becomes required-but-nullable, and the model
//! sends `null` for "not given"; [`Strict::restore`] removes exactly those nulls again before
//! the call, so the tool sees the arguments its own schema describes. Keywords strict mode does not
//! take are dropped, the constraints among them kept as words in the description (the tool still
//! validates them). A map (an object with free-form keys) becomes a list of `{key, value}` pairs
//! and is turned back into an object before the call; a value of any type travels as JSON text.
//! A schema that cannot be made strict without changing its meaning (untyped values, `not`,
//! tuples, ...) is sent non-strict with the reason.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The deepest nesting strict mode accepts.
pub const MAX_DEPTH: usize = 10;
/// The most properties strict mode accepts in one schema.
pub const MAX_PROPERTIES: usize = 5000;
/// The most enum values strict mode accepts in one schema.
pub const MAX_ENUM_VALUES: usize = 1000;

/// String formats strict mode understands.
const FORMATS: &[&str] = &["date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"];

/// Keywords kept as they are.
const KEPT: &[&str] = &[
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
];

/// Keywords that carry no constraint: dropped silently.
const NOTES: &[&str] = &["$schema", "$id", "$comment", "examples", "readOnly", "writeOnly", "deprecated", "$anchor"];

/// Keywords whose meaning strict mode cannot hold.
const UNSUPPORTED: &[&str] = &[
    "not",
    "if",
    "then",
    "else",
    "patternProperties",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "dependentSchemas",
    "contains",
    "$dynamicRef",
];

/// A schema converted for strict mode, with what is needed to undo the added nulls.
#[derive(Debug, Clone)]
pub struct Strict {
    /// The schema to send as `parameters`.
    pub schema: Map<String, Value>,
    shape: Shape,
    defs: BTreeMap<String, Shape>,
}

/// Where nulls were added, following the schema's structure.
#[derive(Debug, Clone, Default)]
enum Shape {
    #[default]
    Leaf,
    Object(BTreeMap<String, (bool, Shape)>),
    Array(Box<Shape>),
    AnyOf(Vec<Shape>),
    Ref(String),
    /// A map sent as `[{key, value}]`; `json` when values travel as JSON text.
    Map {
        value: Box<Shape>,
        json: bool,
    },
    /// A fixed-length array (`prefixItems`) sent as an object with keys `"0"`, `"1"`, ...
    Tuple(Vec<Shape>),
}

/// Converts a tool's `inputSchema`. `Err` carries the reason it cannot be strict.
pub fn convert(input_schema: &Map<String, Value>) -> Result<Strict, String> {
    let mut root = input_schema.clone();
    if root.contains_key("anyOf") || root.contains_key("oneOf") {
        return Err("the top level is a choice of schemas (`anyOf`/`oneOf`); strict mode needs one object".into());
    }
    match root.get("type") {
        None => {
            root.insert("type".into(), json!("object"));
        }
        Some(Value::String(t)) if t == "object" => {}
        Some(other) => return Err(format!("the top level has type {other}; strict mode needs an object")),
    }
    let mut converter = Converter::default();
    // Definitions first: references inside properties point at them.
    let mut defs_out = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(defs) = root.remove(key) {
            let Value::Object(defs) = defs else { return Err(format!("`{key}` is not an object")) };
            for (name, def) in defs {
                let (schema, shape) = converter.node(&def, &format!("#/$defs/{name}"), 1)?;
                converter.defs.insert(name.clone(), shape);
                defs_out.insert(name, schema);
            }
        }
    }
    let (schema, shape) = converter.object(&root, "arguments", 0, true)?;
    let Value::Object(mut schema) = schema else { unreachable!("object() returns an object") };
    if !defs_out.is_empty() {
        schema.insert("$defs".into(), Value::Object(defs_out));
    }
    // Strict mode resolves every reference: one to nothing (or into another part of the
    // schema) cannot be sent.
    if let Some((path, target, _)) = converter.refs.iter().find(|(_, _, name)| !converter.defs.contains_key(name)) {
        return Err(format!("`{path}` refers to `{target}`, which is not one of the schema's definitions"));
    }
    if converter.properties > MAX_PROPERTIES {
        return Err(format!("{} properties; strict mode takes at most {MAX_PROPERTIES}", converter.properties));
    }
    if converter.enum_values > MAX_ENUM_VALUES {
        return Err(format!("{} enum values; strict mode takes at most {MAX_ENUM_VALUES}", converter.enum_values));
    }
    Ok(Strict { schema, shape, defs: converter.defs })
}

impl Strict {
    /// Undoes the conversion on the model's arguments: removes the `null`s sent for parameters
    /// that were optional in the original schema (made nullable only for strict mode), and turns
    /// key/value lists back into objects, at any depth.
    pub fn restore(&self, arguments: &mut Map<String, Value>) {
        if let Shape::Object(props) = &self.shape {
            strip_object(props, &self.defs, arguments, 0);
        }
    }
}

fn strip(shape: &Shape, defs: &BTreeMap<String, Shape>, value: &mut Value, depth: usize) {
    if depth > 64 {
        return;
    }
    match (shape, value) {
        (Shape::Object(props), Value::Object(map)) => strip_object(props, defs, map, depth),
        (Shape::Array(items), Value::Array(values)) => {
            for v in values {
                strip(items, defs, v, depth + 1);
            }
        }
        (Shape::Map { value: value_shape, json }, value @ Value::Array(_)) => {
            let Value::Array(pairs) = std::mem::take(value) else { return };
            let mut map = Map::new();
            for pair in pairs {
                let Value::Object(mut pair) = pair else { continue };
                let Some(Value::String(key)) = pair.remove("key") else { continue };
                let mut item = pair.remove("value").unwrap_or(Value::Null);
                if *json && let Value::String(text) = &item {
                    item = serde_json::from_str(text).unwrap_or(item);
                }
                strip(value_shape, defs, &mut item, depth + 1);
                map.insert(key, item);
            }
            *value = Value::Object(map);
        }
        (Shape::Tuple(items), value @ Value::Object(_)) => {
            let Value::Object(mut map) = std::mem::take(value) else { return };
            let mut values = Vec::with_capacity(items.len());
            for (i, shape) in items.iter().enumerate() {
                let mut item = map.remove(&i.to_string()).unwrap_or(Value::Null);
                strip(shape, defs, &mut item, depth + 1);
                values.push(item);
            }
            *value = Value::Array(values);
        }
        (Shape::AnyOf(branches), value @ Value::Object(_)) => {
            let keys: Vec<String> = value.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
            let branch = branches.iter().find(|b| match b {
                Shape::Object(props) => keys.iter().all(|k| props.contains_key(k)),
                Shape::Tuple(items) => {
                    keys.len() == items.len() && (0..items.len()).all(|i| keys.contains(&i.to_string()))
                }
                _ => false,
            });
            if let Some(branch) = branch {
                strip(branch, defs, value, depth + 1);
            }
        }
        (Shape::AnyOf(branches), value @ Value::Array(_)) => {
            if let Some(branch) = branches.iter().find(|b| matches!(b, Shape::Array(_) | Shape::Map { .. })) {
                strip(branch, defs, value, depth + 1);
            }
        }
        (Shape::Ref(name), value) => {
            if let Some(shape) = defs.get(name) {
                strip(shape, defs, value, depth + 1);
            }
        }
        _ => {}
    }
}

fn strip_object(
    props: &BTreeMap<String, (bool, Shape)>,
    defs: &BTreeMap<String, Shape>,
    map: &mut Map<String, Value>,
    depth: usize,
) {
    map.retain(|key, value| !(value.is_null() && props.get(key).is_some_and(|(added, _)| *added)));
    for (key, value) in map.iter_mut() {
        if let Some((_, shape)) = props.get(key) {
            strip(shape, defs, value, depth + 1);
        }
    }
}

#[derive(Default)]
struct Converter {
    defs: BTreeMap<String, Shape>,
    /// Every reference met: where, as written, and the definition it names.
    refs: Vec<(String, String, String)>,
    properties: usize,
    enum_values: usize,
}

impl Converter {
    /// Converts one schema found at `path`.
    fn node(&mut self, schema: &Value, path: &str, depth: usize) -> Result<(Value, Shape), String> {
        if depth > MAX_DEPTH {
            return Err(format!("`{path}` is nested deeper than strict mode's {MAX_DEPTH} levels"));
        }
        let schema = match schema {
            Value::Object(map) => map,
            Value::Bool(true) => return Err(format!("`{path}` accepts any value")),
            other => return Err(format!("`{path}` is not a schema: {other}")),
        };
        // `allOf` of one schema is that schema.
        if let Some(all) = schema.get("allOf") {
            match all.as_array().map(Vec::as_slice) {
                Some([only]) => {
                    let mut merged = schema.clone();
                    merged.remove("allOf");
                    if let Value::Object(inner) = only {
                        for (k, v) in inner {
                            merged.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                    return self.node(&Value::Object(merged), path, depth);
                }
                _ => return Err(format!("`{path}` combines schemas with `allOf`")),
            }
        }
        if let Some(keyword) = UNSUPPORTED.iter().find(|k| schema.contains_key(**k)) {
            return Err(format!("`{path}` uses `{keyword}`, which strict mode cannot express"));
        }
        if let Some(prefix) = schema.get("prefixItems") {
            return self.tuple(schema, prefix, path, depth);
        }
        let is_object = schema.get("type").is_some_and(|t| type_includes(t, "object"))
            || (schema.get("type").is_none() && schema.contains_key("properties"));
        if is_object {
            return self.object(schema, path, depth, false);
        }
        let mut out = Map::new();
        let mut notes = Vec::new();
        let mut shape = Shape::Leaf;
        for (key, value) in schema {
            match key.as_str() {
                k if KEPT.contains(&k) => {
                    if k == "enum" {
                        self.enum_values += value.as_array().map_or(0, Vec::len);
                    }
                    out.insert(key.clone(), value.clone());
                }
                k if NOTES.contains(&k) => {}
                "default" => notes.push(format!("default: {value}")),
                "format" => match value.as_str() {
                    Some(f) if FORMATS.contains(&f) => {
                        out.insert(key.clone(), value.clone());
                    }
                    _ => notes.push(format!("format: {}", value.as_str().unwrap_or("?"))),
                },
                "minLength" => notes.push(format!("at least {value} characters")),
                "maxLength" => notes.push(format!("at most {value} characters")),
                "uniqueItems" if value == &Value::Bool(true) => notes.push("items must be distinct".into()),
                "uniqueItems" => {}
                "items" => {
                    let (items, item_shape) = self.node(value, &format!("{path}[]"), depth + 1)?;
                    out.insert(key.clone(), items);
                    shape = Shape::Array(Box::new(item_shape));
                }
                "anyOf" | "oneOf" => {
                    let Some(branches) = value.as_array() else { return Err(format!("`{path}.{key}` is not a list")) };
                    let mut converted = Vec::new();
                    let mut shapes = Vec::new();
                    for (i, branch) in branches.iter().enumerate() {
                        let (b, s) = self.node(branch, &format!("{path}.{key}[{i}]"), depth + 1)?;
                        converted.push(b);
                        shapes.push(s);
                    }
                    out.insert("anyOf".into(), Value::Array(converted));
                    shape = Shape::AnyOf(shapes);
                }
                "$ref" => {
                    let Some(target) = value.as_str() else { return Err(format!("`{path}.$ref` is not a string")) };
                    let name = target
                        .strip_prefix("#/$defs/")
                        .or_else(|| target.strip_prefix("#/definitions/"))
                        .ok_or_else(|| format!("`{path}` refers to `{target}`, outside the schema's definitions"))?;
                    out.insert(key.clone(), json!(format!("#/$defs/{name}")));
                    self.refs.push((path.to_owned(), target.to_owned(), name.to_owned()));
                    shape = Shape::Ref(name.to_owned());
                }
                // Object keywords on a node that is not an object carry no meaning.
                "properties" | "required" | "additionalProperties" => {}
                "dependentRequired" | "minProperties" | "maxProperties" => {}
                _ => {}
            }
        }
        let typed = ["type", "enum", "const", "anyOf", "$ref"].iter().any(|k| out.contains_key(*k));
        if !typed {
            return Err(format!("`{path}` has no type (any JSON value), which strict mode cannot express"));
        }
        if out.get("type").is_some_and(|t| type_includes(t, "array")) && !out.contains_key("items") {
            return Err(format!("`{path}` is an array of any values (no `items`)"));
        }
        describe(&mut out, notes);
        Ok((Value::Object(out), shape))
    }

    /// Converts an object schema: closed, every property required, optional ones nullable.
    fn object(
        &mut self,
        schema: &Map<String, Value>,
        path: &str,
        depth: usize,
        root: bool,
    ) -> Result<(Value, Shape), String> {
        if depth > MAX_DEPTH {
            return Err(format!("`{path}` is nested deeper than strict mode's {MAX_DEPTH} levels"));
        }
        if let Some(keyword) = UNSUPPORTED.iter().find(|k| schema.contains_key(**k)) {
            return Err(format!("`{path}` uses `{keyword}`, which strict mode cannot express"));
        }
        // An object or something else (`["object", "array"]`): closing it as an object would
        // leave the other kind half described.
        if let Some(Value::Array(types)) = schema.get("type")
            && types.iter().any(|t| t != "object" && t != "null")
        {
            return Err(format!("`{path}` is an object or another type, which strict mode cannot express"));
        }
        let empty = Map::new();
        let properties = match schema.get("properties") {
            None => &empty,
            Some(Value::Object(p)) => p,
            Some(other) => return Err(format!("`{path}.properties` is not an object: {other}")),
        };
        // Unsaid means open, except for a tool's arguments with no properties: a tool that takes
        // none. Explicitly open objects with no properties are maps, which strict mode cannot take.
        let open = match schema.get("additionalProperties") {
            None => !root,
            Some(Value::Bool(false)) => false,
            Some(_) => true,
        };
        if properties.is_empty() && open {
            if root {
                return Err(format!("`{path}` is a free-form object (any keys); strict mode needs named parameters"));
            }
            return self.map(schema, path, depth);
        }
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Map::new();
        let mut notes = Vec::new();
        for (key, value) in schema {
            match key.as_str() {
                "type" => {
                    out.insert(key.clone(), value.clone());
                }
                "description" | "title" => {
                    out.insert(key.clone(), value.clone());
                }
                "default" => notes.push(format!("default: {value}")),
                "minProperties" => notes.push(format!("give at least {value} of these")),
                "maxProperties" => notes.push(format!("give at most {value} of these")),
                "dependentRequired" => {
                    if let Value::Object(deps) = value {
                        for (k, v) in deps {
                            let others: Vec<String> = v
                                .as_array()
                                .map(|a| a.iter().filter_map(Value::as_str).map(|s| format!("`{s}`")).collect())
                                .unwrap_or_default();
                            notes.push(format!("when `{k}` is given, {} must be given too", others.join(", ")));
                        }
                    }
                }
                _ => {}
            }
        }
        out.entry("type").or_insert_with(|| json!("object"));
        let mut props_out = Map::new();
        let mut shapes = BTreeMap::new();
        for (name, prop) in properties {
            self.properties += 1;
            let (mut converted, shape) = self.node(prop, &format!("{path}.{name}"), depth + 1)?;
            let added = if required.contains(&name.as_str()) { false } else { make_nullable(&mut converted) };
            // A `null` added to an enum is one more value for strict mode's limit.
            if added && converted.get("enum").and_then(Value::as_array).is_some_and(|e| e.last() == Some(&Value::Null))
            {
                self.enum_values += 1;
            }
            shapes.insert(name.clone(), (added, shape));
            props_out.insert(name.clone(), converted);
        }
        let all: Vec<Value> = props_out.keys().map(|k| json!(k)).collect();
        out.insert("properties".into(), Value::Object(props_out));
        out.insert("required".into(), Value::Array(all));
        out.insert("additionalProperties".into(), json!(false));
        describe(&mut out, notes);
        Ok((Value::Object(out), Shape::Object(shapes)))
    }
}

impl Converter {
    /// A fixed-length array as an object keyed by position.
    fn tuple(
        &mut self,
        schema: &Map<String, Value>,
        prefix: &Value,
        path: &str,
        depth: usize,
    ) -> Result<(Value, Shape), String> {
        let Some(prefix) = prefix.as_array() else { return Err(format!("`{path}.prefixItems` is not a list")) };
        let closed = schema.get("items") == Some(&Value::Bool(false))
            || schema.get("maxItems").and_then(Value::as_u64) == Some(prefix.len() as u64);
        if !closed {
            return Err(format!(
                "`{path}` uses `prefixItems` with further items allowed, which strict mode cannot express"
            ));
        }
        let mut properties = Map::new();
        let mut shapes = Vec::new();
        for (i, item) in prefix.iter().enumerate() {
            self.properties += 1;
            let (converted, shape) = self.node(item, &format!("{path}[{i}]"), depth + 1)?;
            properties.insert(i.to_string(), converted);
            shapes.push(shape);
        }
        let keys: Vec<Value> = properties.keys().map(|k| json!(k)).collect();
        let mut out = Map::new();
        if let Some(d) = schema.get("description") {
            out.insert("description".into(), d.clone());
        }
        out.insert("type".into(), json!("object"));
        out.insert("properties".into(), Value::Object(properties));
        out.insert("required".into(), Value::Array(keys));
        out.insert("additionalProperties".into(), json!(false));
        let note = match prefix.len() {
            0 => "an empty list, given as an empty object".to_owned(),
            n => format!("a list of exactly {n} values, given as an object keyed \"0\" to \"{}\"", n - 1),
        };
        describe(&mut out, vec![note]);
        Ok((Value::Object(out), Shape::Tuple(shapes)))
    }

    /// A map (free-form keys) as a list of `{key, value}` pairs.
    fn map(&mut self, schema: &Map<String, Value>, path: &str, depth: usize) -> Result<(Value, Shape), String> {
        let (value, value_shape, json) = match schema.get("additionalProperties") {
            Some(Value::Object(v)) if !v.is_empty() => {
                let (converted, shape) = self.node(&Value::Object(v.clone()), &format!("{path}{{}}"), depth + 2)?;
                (converted, shape, false)
            }
            _ => (json!({"type": "string", "description": "The value, as JSON."}), Shape::Leaf, true),
        };
        self.properties += 2;
        let mut out = Map::new();
        let mut notes = vec!["given as a list of key/value pairs".to_owned()];
        for (key, value) in schema {
            match key.as_str() {
                "description" | "title" => {
                    out.insert(key.clone(), value.clone());
                }
                "default" => notes.push(format!("default: {value}")),
                "minProperties" => notes.push(format!("at least {value} pairs")),
                "maxProperties" => notes.push(format!("at most {value} pairs")),
                _ => {}
            }
        }
        out.insert("type".into(), json!("array"));
        out.insert(
            "items".into(),
            json!({
                "type": "object",
                "properties": {"key": {"type": "string"}, "value": value},
                "required": ["key", "value"],
                "additionalProperties": false,
            }),
        );
        describe(&mut out, notes);
        Ok((Value::Object(out), Shape::Map { value: Box::new(value_shape), json }))
    }
}

/// True when `null` is already an accepted value: every keyword that restricts it lets it through
/// (they all apply at once). A reference is not followed, so it counts as not accepting `null`.
fn accepts_null(schema: &Map<String, Value>) -> bool {
    let says = ["type", "const", "enum", "anyOf"].iter().any(|k| schema.contains_key(*k));
    let typed = schema.get("type").is_none_or(|t| type_includes(t, "null"));
    let constant = schema.get("const").is_none_or(Value::is_null);
    let listed = schema.get("enum").is_none_or(|e| e.as_array().is_some_and(|e| e.iter().any(Value::is_null)));
    let branch = schema.get("anyOf").is_none_or(|branches| {
        branches.as_array().is_some_and(|b| b.iter().any(|b| b.as_object().is_some_and(accepts_null)))
    });
    says && !schema.contains_key("$ref") && typed && constant && listed && branch
}

/// Lets `schema` accept `null` too; false when it already did.
fn make_nullable(schema: &mut Value) -> bool {
    let Value::Object(map) = schema else { return false };
    if accepts_null(map) {
        return false;
    }
    let choice = ["$ref", "const", "anyOf"].iter().any(|k| map.contains_key(*k));
    // A type (and an enum of values) alone: add `null` to both.
    if !choice && (map.contains_key("type") || map.contains_key("enum")) {
        if let Some(Value::Array(values)) = map.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
        match map.get_mut("type") {
            Some(Value::String(t)) if t != "null" => {
                let t = std::mem::take(t);
                map.insert("type".into(), json!([t, "null"]));
            }
            Some(Value::Array(types)) if !types.contains(&json!("null")) => types.push(json!("null")),
            _ => {}
        }
        return true;
    }
    // A choice alone: one more branch.
    let beside = ["type", "const", "enum", "$ref"].iter().any(|k| map.contains_key(*k));
    if !beside && let Some(Value::Array(branches)) = map.get_mut("anyOf") {
        branches.push(json!({"type": "null"}));
        return true;
    }
    // Anything else (a reference, a constant, a choice beside a type): the schema or `null`.
    let description = map.remove("description");
    let inner = std::mem::take(map);
    map.insert("anyOf".into(), json!([Value::Object(inner), {"type": "null"}]));
    if let Some(d) = description {
        map.insert("description".into(), d);
    }
    true
}

fn type_includes(t: &Value, name: &str) -> bool {
    match t {
        Value::String(s) => s == name,
        Value::Array(a) => a.iter().any(|v| v.as_str() == Some(name)),
        _ => false,
    }
}

/// Appends dropped constraints to the description, so the model still reads them.
fn describe(out: &mut Map<String, Value>, notes: Vec<String>) {
    if notes.is_empty() {
        return;
    }
    let extra = format!("({})", notes.join("; "));
    let text = match out.get("description").and_then(Value::as_str) {
        Some(d) if !d.is_empty() => format!("{d} {extra}"),
        _ => extra,
    };
    out.insert("description".into(), Value::String(text));
}
