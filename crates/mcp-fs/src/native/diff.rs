//! Unified diffs in the layout the reference server prints (an `Index:` line, a rule, file
//! headers labelled `original` / `modified`, four lines of context, counts always shown).

use std::fmt::Write as _;

use similar::{ChangeTag, TextDiff};

const CONTEXT: usize = 4;

/// The diff from `old` to `new` of the file shown as `path`.
pub(crate) fn unified(old: &str, new: &str, path: &str) -> String {
    let mut out = String::new();
    let _ = write!(out, "Index: {path}\n{}\n--- {path}\toriginal\n+++ {path}\tmodified\n", "=".repeat(67));
    let diff = TextDiff::from_lines(old, new);
    for group in diff.grouped_ops(CONTEXT) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        let start = |range: &std::ops::Range<usize>| {
            if range.is_empty() { range.start } else { range.start + 1 }
        };
        let _ = writeln!(
            out,
            "@@ -{},{} +{},{} @@",
            start(&old_range),
            old_range.len(),
            start(&new_range),
            new_range.len()
        );
        for op in &group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                };
                out.push(sign);
                out.push_str(change.value());
                if change.missing_newline() {
                    out.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::unified;

    // Expected texts produced by the `diff` package's createTwoFilesPatch, which the reference
    // server uses.
    fn check(old: &str, new: &str, hunks: &str) {
        let head = format!("Index: /f\n{}\n--- /f\toriginal\n+++ /f\tmodified\n", "=".repeat(67));
        assert_eq!(unified(old, new, "/f"), format!("{head}{hunks}"), "{old:?} -> {new:?}");
    }

    #[test]
    fn matches_the_reference_layout() {
        check("a\nb\nc\n", "a\nB\nc\n", "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
        check(
            "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n",
            "1\n2\nX\n4\n5\n6\n7\n8\n9\n10\n11\n12\nY\n14\n15\n",
            "@@ -1,7 +1,7 @@\n 1\n 2\n-3\n+X\n 4\n 5\n 6\n 7\n@@ -9,7 +9,7 @@\n 9\n 10\n 11\n 12\n-13\n+Y\n 14\n 15\n",
        );
        check(
            "a\nb",
            "a\nc",
            "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n",
        );
        check("a\n", "a\nb\n", "@@ -1,1 +1,2 @@\n a\n+b\n");
        check("", "", "");
        check("x\n", "x\n", "");
    }
}
