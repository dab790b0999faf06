//! YAML text as the Go server prints it (`sigs.k8s.io/yaml`, which emits through go-yaml v2):
//! keys sorted, two-space indentation, sequences at their key's indentation, strings quoted only
//! where a plain scalar would read as something else.

use serde_json::Value;

/// `value` as YAML text, ending in a newline.
pub(crate) fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0, false),
        scalar => {
            out.push_str(&self::scalar(scalar, 2));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, at: usize, inline_first: bool) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 || !inline_first {
            indent(out, at);
        }
        out.push_str(&string(key, at + 2));
        out.push(':');
        match &map[key] {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                write_map(out, inner, at + 2, false);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                write_seq(out, items, at, false);
            }
            value => {
                out.push(' ');
                out.push_str(&scalar(value, at + 2));
                out.push('\n');
            }
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], at: usize, inline_first: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline_first {
            indent(out, at);
        }
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => write_map(out, inner, at + 2, true),
            Value::Array(inner) if !inner.is_empty() => write_seq(out, inner, at + 2, true),
            value => {
                out.push_str(&scalar(value, at + 2));
                out.push('\n');
            }
        }
    }
}

/// A scalar or an empty collection; `block_indent` is where a literal block's lines start.
fn scalar(value: &Value, block_indent: usize) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s, block_indent),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn string(s: &str, block_indent: usize) -> String {
    if s.contains('\n') && !s.chars().any(|c| c.is_control() && c != '\n') && !s.contains(" \n") {
        return literal(s, block_indent);
    }
    if s.chars().any(|c| c.is_control() && c != '\n') || s.contains('\n') {
        return double_quoted(s);
    }
    if resolves_to_other_type(s) {
        return double_quoted(s);
    }
    if plain_allowed(s) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', "''"))
}

fn literal(s: &str, block_indent: usize) -> String {
    let trailing = s.len() - s.trim_end_matches('\n').len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let indicator = if s.starts_with(' ') { "2" } else { "" };
    let mut out = format!("|{indicator}{chomp}");
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(&mut out, block_indent);
            out.push_str(line);
        }
    }
    out
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether go-yaml v2 would read the plain scalar `s` as a null, bool, number or timestamp.
fn resolves_to_other_type(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True",
        "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", ".inf", ".Inf", ".INF", "+.inf",
        "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '.')) {
        return false;
    }
    let plain = s.replace('_', "");
    if plain.parse::<i64>().is_ok() || plain.parse::<u64>().is_ok() {
        return true;
    }
    let unsigned = plain.trim_start_matches(['+', '-']);
    if let Some(hex) = unsigned.strip_prefix("0x") {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(bin) = unsigned.strip_prefix("0b") {
        return !bin.is_empty() && bin.chars().all(|c| c == '0' || c == '1');
    }
    let float_chars = unsigned.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if float_chars && unsigned.chars().any(|c| c.is_ascii_digit()) && plain.parse::<f64>().is_ok() {
        return true;
    }
    // Sexagesimal numbers (`1:20`) and timestamps (`2006-01-02`, `2006-01-02T15:04:05Z`).
    if unsigned.contains(':')
        && unsigned.split(':').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.'))
    {
        return true;
    }
    let bytes = s.as_bytes();
    bytes.len() >= 8
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && bytes[5].is_ascii_digit()
        && s[5..].split(|c: char| !c.is_ascii_digit()).nth(1).is_some()
        && looks_like_timestamp(s)
}

fn looks_like_timestamp(s: &str) -> bool {
    let date = s.split(['T', 't', ' ']).next().unwrap_or_default();
    let parts: Vec<&str> = date.split('-').collect();
    let date_ok = parts.len() == 3
        && parts[0].len() == 4
        && (1..=2).contains(&parts[1].len())
        && (1..=2).contains(&parts[2].len())
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()));
    if !date_ok {
        return false;
    }
    date.len() == s.len() || s[date.len()..].chars().skip(1).all(|c| c.is_ascii_digit() || ":.Z+- ".contains(c))
}

/// libyaml's rules for a plain scalar in block context.
fn plain_allowed(s: &str) -> bool {
    if s.starts_with(' ') || s.ends_with(' ') || s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let mut chars = s.chars().peekable();
    let Some(first) = chars.next() else { return false };
    let followed_by_blank = |rest: Option<&char>| rest.is_none_or(|c| *c == ' ');
    if "#,[]{}&*!|>'\"%@`".contains(first) {
        return false;
    }
    if matches!(first, '?' | ':' | '-') && followed_by_blank(chars.peek()) {
        return false;
    }
    let mut previous = first;
    while let Some(c) = chars.next() {
        if c == ':' && followed_by_blank(chars.peek()) {
            return false;
        }
        if c == '#' && previous == ' ' {
            return false;
        }
        previous = c;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_like_go_yaml_v2() {
        let value = json!({
            "metadata": {"name": "web", "labels": {"app": "web", "n": "5"}, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]}], "empty": {}, "none": []},
            "data": {"script": "echo hi\necho there\n", "flag": "true", "colon": "a: b", "star": "*x"},
        });
        let expected = "data:\n  colon: 'a: b'\n  flag: \"true\"\n  script: |\n    echo hi\n    echo there\n  star: '*x'\n\
metadata:\n  creationTimestamp: \"2026-01-01T00:00:00Z\"\n  labels:\n    app: web\n    \"n\": \"5\"\n  name: web\n\
spec:\n  containers:\n  - image: nginx:1\n    name: web\n    ports:\n    - containerPort: 80\n  empty: {}\n  none: []\n";
        assert_eq!(to_string(&value), expected);
        assert_eq!(to_string(&json!([{"a": 1}, {"b": ""}])), "- a: 1\n- b: \"\"\n");
        assert_eq!(to_string(&json!(null)), "null\n");
    }
}
