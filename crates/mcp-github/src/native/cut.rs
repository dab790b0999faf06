//! Results over the byte cap, cut so that what is shown is still whole JSON: the largest list
//! loses items from its end, then the longest strings lose their ends, while the small fields
//! (`pageInfo`, counts, names) stay whole; text marked as untrusted is never cut inside its
//! markers. What was left out, and how to get it, is said in a note of its own.

use serde_json::Value;

use crate::UNTRUSTED_END;

/// How every marked text opens (see [`crate::untrusted_start`]).
const UNTRUSTED_OPENING: &str = "[untrusted text by @";

/// `value` as the text a result carries (a string as itself, anything else as compact JSON),
/// at most `limit` bytes where it can be; with a note when something was left out. `hint` says
/// where else the whole of it can be read, for a cut string.
pub(super) fn fit(value: Value, limit: usize, hint: Option<&str>) -> (String, Option<String>) {
    let text = match &value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.len() <= limit {
        return (text, None);
    }
    if let Value::String(s) = value {
        let len = s.len();
        return fit_text(s, len, true, limit, hint);
    }
    let mut value = value;
    let mut parts = Vec::new();
    let mut how = Vec::new();
    if let Some(pointer) = largest_array(&value) {
        let items = match value.pointer_mut(&pointer) {
            Some(Value::Array(items)) => std::mem::take(items),
            _ => Vec::new(),
        };
        let total = items.len();
        // The length of compact JSON with `k` items: the rest, plus the items and commas.
        let rest = value.to_string().len() - 2;
        let sizes: Vec<usize> = items.iter().map(|i| i.to_string().len()).collect();
        let mut size = rest + 2;
        let mut kept = 0;
        while kept < total && size + sizes[kept] + usize::from(kept > 0) <= limit {
            size += sizes[kept] + usize::from(kept > 0);
            kept += 1;
        }
        // One item too large on its own is kept, and its strings cut below.
        let kept = kept.max(usize::from(total > 0));
        let mut items = items;
        items.truncate(kept);
        if let Some(slot) = value.pointer_mut(&pointer) {
            *slot = Value::Array(items);
        }
        if kept < total {
            parts.push(format!("{kept} of {total} items of {} shown", name_of(&pointer)));
            how.push(page_hint(&value, kept, total));
        }
    }
    // Then the longest strings, one at a time, each cut by what is still over.
    let mut cuts: Vec<(String, usize, usize)> = Vec::new();
    for _ in 0..64 {
        let size = value.to_string().len();
        if size <= limit {
            break;
        }
        let Some((pointer, len)) = longest_string(&value) else { break };
        let Some(Value::String(s)) = value.pointer_mut(&pointer) else { break };
        let end = cut_point(s, len.saturating_sub(size - limit));
        s.truncate(end);
        match cuts.iter_mut().find(|(p, _, _)| *p == pointer) {
            Some(cut) => cut.1 = end,
            None => cuts.push((pointer, end, len)),
        }
    }
    for (pointer, kept, total) in &cuts {
        parts.push(format!("{} cut to its first {kept} of {total} bytes", name_of(pointer)));
    }
    let mut text = value.to_string();
    if text.len() > limit {
        // Many small fields: nothing sensible is left to cut; still whole JSON.
        text = Value::String(format!("[the result was over the {limit}-byte limit even when cut]")).to_string();
        parts.push("nothing of it could be shown".into());
    }
    let mut note = format!("[cut: the result was over the {limit}-byte limit: {}", parts.join("; "));
    for h in how {
        note.push_str(". ");
        note.push_str(&h);
    }
    if let (false, Some(hint)) = (cuts.is_empty(), hint) {
        note.push_str(". ");
        note.push_str(hint);
    }
    note.push(']');
    (text, Some(note))
}

/// `text`, the first bytes of an answer of `seen` bytes (or of more, when not `complete`), cut
/// to at most `limit` bytes: at a line's end when one is near, never inside untrusted text; with
/// a note when anything was left out.
pub(super) fn fit_text(
    mut text: String,
    seen: usize,
    complete: bool,
    limit: usize,
    hint: Option<&str>,
) -> (String, Option<String>) {
    if complete && seen <= limit && text.len() <= limit {
        return (text, None);
    }
    let mut end = cut_point(&text, limit);
    if let Some(newline) = text[..end].rfind('\n')
        && newline + 1 >= end / 4 * 3
    {
        end = cut_point(&text, newline + 1);
    }
    text.truncate(end);
    let total = if complete { format!("{seen}") } else { format!("more than {seen}") };
    let hint = hint.map(|h| format!("; {h}")).unwrap_or_default();
    let note =
        format!("[cut: the first {end} of {total} bytes shown; the result was over the {limit}-byte limit{hint}]");
    (text, Some(note))
}

/// How to get the items left out of a page of `total` of which `kept` are shown.
fn page_hint(value: &Value, kept: usize, total: usize) -> String {
    let left = total - kept;
    if find_key(value, "endCursor").is_some() {
        format!(
            "The {left} left out are the last of this page, and pageInfo.endCursor points after them: ask again with \
             perPage={kept} and the same `after` to get every item, then page on from that answer's endCursor"
        )
    } else {
        format!(
            "The {left} left out are the last of this page: ask again with perPage={kept} (pages are then counted in \
             that size) to get every item"
        )
    }
}

/// A field's name for a note: its JSON pointer, or "the list" at the top.
fn name_of(pointer: &str) -> String {
    if pointer.is_empty() { "the list".into() } else { format!("`{}`", pointer.trim_start_matches('/')) }
}

fn find_key<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map.get(key).or_else(|| map.values().find_map(|v| find_key(v, key))),
        _ => None,
    }
}

/// The JSON pointer of the array with the longest JSON, looked for through objects (not inside
/// other arrays); the top when it is one.
fn largest_array(value: &Value) -> Option<String> {
    largest(value, false, &|v| v.is_array().then(|| v.to_string().len())).map(|(at, _)| at)
}

/// The JSON pointer and byte length of the longest string anywhere in `value`.
fn longest_string(value: &Value) -> Option<(String, usize)> {
    largest(value, true, &|v| v.as_str().filter(|s| !s.is_empty()).map(str::len))
}

/// The JSON pointer and size of the first of the values `size` measures largest, looked for
/// through objects, and through arrays too when `into_arrays`.
fn largest(value: &Value, into_arrays: bool, size: &dyn Fn(&Value) -> Option<usize>) -> Option<(String, usize)> {
    fn walk(
        value: &Value,
        at: &str,
        into_arrays: bool,
        size: &dyn Fn(&Value) -> Option<usize>,
        best: &mut Option<(String, usize)>,
    ) {
        if let Some(n) = size(value)
            && best.as_ref().is_none_or(|(_, b)| n > *b)
        {
            *best = Some((at.to_owned(), n));
        }
        match value {
            Value::Array(items) if into_arrays => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{at}/{i}"), into_arrays, size, best);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    let key = k.replace('~', "~0").replace('/', "~1");
                    walk(v, &format!("{at}/{key}"), into_arrays, size, best);
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    walk(value, "", into_arrays, size, &mut best);
    best
}

/// Where to cut `text` to keep at most `max` bytes: on a character boundary, and never inside
/// text marked as untrusted (a cut that would fall inside moves back to before its opening, so
/// every opening shown has its close).
pub(super) fn cut_point(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut from = 0;
    while let Some(open) = text[from..].find(UNTRUSTED_OPENING).map(|at| from + at) {
        if open >= end {
            break;
        }
        match text[open..].find(UNTRUSTED_END).map(|at| open + at + UNTRUSTED_END.len()) {
            Some(close) if close <= end => from = close,
            _ => return open,
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::untrusted_start;

    fn marked(login: &str, text: &str) -> String {
        format!("{}{text}{UNTRUSTED_END}", untrusted_start(login))
    }

    #[test]
    fn small_results_are_left_alone() {
        let value = json!({"a": [1, 2, 3], "b": "x"});
        assert_eq!(fit(value.clone(), 1024, None), (value.to_string(), None));
    }

    #[test]
    fn a_page_of_issues_keeps_its_page_info_and_counts() {
        let issues: Vec<Value> = (0..60)
            .map(|i| json!({"number": i, "title": format!("issue {i}"), "body": marked("someone", &"x".repeat(1500))}))
            .collect();
        let value = json!({
            "issues": issues,
            "pageInfo": {"endCursor": "CURSOR_NEXT", "hasNextPage": true},
            "totalCount": 600,
        });
        let (text, note) = fit(value, 65536, None);
        assert!(text.len() <= 65536, "{}", text.len());
        let shown: Value = serde_json::from_str(&text).expect("whole JSON");
        assert_eq!(shown["pageInfo"]["endCursor"], "CURSOR_NEXT");
        assert_eq!(shown["totalCount"], 600);
        let kept = shown["issues"].as_array().expect("a list").len();
        assert!(kept > 30 && kept < 60, "{kept}");
        for (i, issue) in shown["issues"].as_array().into_iter().flatten().enumerate() {
            assert_eq!(issue["number"], i, "items are dropped from the end");
            assert!(issue["body"].as_str().expect("a body").ends_with(UNTRUSTED_END), "bodies stay whole");
        }
        let note = note.expect("a note");
        assert!(note.contains(&format!("{kept} of 60 items of `issues` shown")), "{note}");
        assert!(note.contains(&format!("perPage={kept}")) && note.contains("endCursor"), "{note}");
    }

    #[test]
    fn search_results_keep_their_total() {
        let items: Vec<Value> = (0..100).map(|i| json!({"id": i, "text": "y".repeat(100)})).collect();
        let value = json!({"total_count": 12345, "incomplete_results": false, "items": items});
        let (text, note) = fit(value, 2048, None);
        let shown: Value = serde_json::from_str(&text).expect("whole JSON");
        assert!(text.len() <= 2048);
        assert_eq!(shown["total_count"], 12345);
        assert_eq!(shown["incomplete_results"], false);
        let kept = shown["items"].as_array().expect("a list").len();
        assert!(note.expect("a note").contains(&format!("{kept} of 100 items of `items` shown")));
        // As many as fit: one more would not.
        let one_more = text.len() + json!({"id": kept, "text": "y".repeat(100)}).to_string().len() + 1;
        assert!(one_more > 2048, "{one_more}");
    }

    #[test]
    fn a_top_level_list_is_cut_by_items() {
        let items: Vec<Value> = (0..100).map(|i| json!({"number": i, "title": "x".repeat(40)})).collect();
        let (text, note) = fit(Value::Array(items), 1024, None);
        let shown: Vec<Value> = serde_json::from_str(&text).expect("whole JSON");
        assert!(!shown.is_empty() && shown.len() < 100 && text.len() <= 1024);
        let note = note.expect("a note");
        assert!(note.contains(&format!("{} of 100 items of the list shown", shown.len())), "{note}");
        assert!(note.contains(&format!("perPage={}", shown.len())), "{note}");
    }

    #[test]
    fn one_large_field_is_cut_and_the_small_ones_stay() {
        let value = json!({"name": "big.txt", "path": "dir/big.txt", "sha": "abc", "size": 200000,
                           "content": "é".repeat(100_000)});
        let (text, note) = fit(value, 4096, Some("ask for less"));
        assert!(text.len() <= 4096, "{}", text.len());
        let shown: Value = serde_json::from_str(&text).expect("whole JSON");
        assert_eq!(
            (shown["name"].as_str(), shown["sha"].as_str(), shown["size"].as_u64()),
            (Some("big.txt"), Some("abc"), Some(200000))
        );
        let content = shown["content"].as_str().expect("content");
        assert!(!content.is_empty() && content.chars().all(|c| c == 'é'));
        let note = note.expect("a note");
        assert!(note.contains(&format!("`content` cut to its first {} of 200000 bytes", content.len())), "{note}");
        assert!(note.contains("ask for less"), "{note}");
    }

    #[test]
    fn one_huge_item_keeps_its_small_fields() {
        let value = json!([{"number": 1, "body": "z".repeat(10_000)}, {"number": 2, "body": "z"}]);
        let (text, note) = fit(value, 1024, None);
        let shown: Value = serde_json::from_str(&text).expect("whole JSON");
        assert!(text.len() <= 1024);
        assert_eq!(shown[0]["number"], 1);
        let note = note.expect("a note");
        assert!(note.contains("1 of 2 items") && note.contains("`0/body` cut to"), "{note}");
    }

    #[test]
    fn strings_are_never_cut_inside_untrusted_text() {
        let wrapped = marked("mallory", &"m".repeat(500));
        let text = format!("{}{wrapped}{}", "a".repeat(100), "b".repeat(100));
        // Inside the marked text: back to before its opening.
        assert_eq!(cut_point(&text, 300), 100);
        // In its close: the same.
        assert_eq!(cut_point(&text, 100 + wrapped.len() - 3), 100);
        // After it: where asked.
        assert_eq!(cut_point(&text, 100 + wrapped.len() + 50), 100 + wrapped.len() + 50);
        let (shown, note) = fit(Value::String(text.clone()), 1024, None);
        assert_eq!(shown, text[..shown.len()]);
        assert!(note.is_none() || shown.len() <= 1024);
        let long = format!("{}{}", "a".repeat(900), marked("mallory", &"m".repeat(2000)));
        let (shown, note) = fit(Value::String(long), 1024, Some("see get_files"));
        assert_eq!(shown, "a".repeat(900));
        let note = note.expect("a note");
        assert!(note.starts_with("[cut: the first 900 of ") && note.contains("see get_files"), "{note}");
        // In an object: a marked body is whole or gone, never open.
        let value = json!({"title": "t", "body": marked("mallory", &"m".repeat(5000))});
        let (text, _) = fit(value, 1024, None);
        let shown: Value = serde_json::from_str(&text).expect("whole JSON");
        assert_eq!(shown["body"], "");
    }

    #[test]
    fn text_is_cut_at_a_line_end_when_one_is_near() {
        let diff = "+added line\n".repeat(200);
        let (shown, note) = fit_text(diff.clone(), 5000, false, 1024, None);
        assert!(shown.len() <= 1024 && shown.ends_with('\n') && diff.starts_with(&shown));
        let note = note.expect("a note");
        assert!(note.starts_with(&format!("[cut: the first {} of more than 5000 bytes shown", shown.len())), "{note}");
        // Read whole and small enough: no note.
        assert_eq!(fit_text("a\n".into(), 2, true, 1024, None), ("a\n".to_owned(), None));
    }

    #[test]
    fn a_string_is_cut_on_a_character_boundary() {
        let (shown, note) = fit(Value::String("é".repeat(2000)), 1024, None);
        assert!(shown.len() <= 1024 && shown.chars().all(|c| c == 'é'));
        assert!(note.expect("a note").starts_with("[cut: the first 1024 of 4000 bytes shown"));
    }
}
