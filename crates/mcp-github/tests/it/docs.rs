//! What the documentation says about the native server is what it does: the toolsets, the
//! default ones, and how `list_issues` pages.

use mcp_github::native::{DEFAULT_TOOLSETS, TOOLSETS};

fn read(path: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// docs/github.md: one table row per toolset, the default toolsets as the code has them, and
/// `list_issues`'s cursors as GraphQL's.
#[test]
fn the_guide_names_every_toolset_the_defaults_and_how_list_issues_pages() {
    let guide = read("../../docs/github.md");
    for name in TOOLSETS {
        assert!(guide.contains(&format!("\n| `{name}` |")), "docs/github.md has no row for toolset {name}");
    }
    let mut defaults: Vec<String> = DEFAULT_TOOLSETS.iter().map(|t| format!("`{t}`")).collect();
    let last = defaults.pop().expect("some");
    let sentence = format!("The default toolsets are {} and {last}", defaults.join(", "));
    assert!(guide.replace('\n', " ").contains(&sentence), "docs/github.md does not say: {sentence}");
    let paging = guide.split("`list_issues` pages with").nth(1).expect("how list_issues pages");
    let paging = paging.split("\n\n").next().unwrap_or_default().replace('\n', " ");
    assert!(paging.contains("GraphQL API") && !paging.contains("page numbers"), "{paging}");
}

/// The native module's documentation lists the default toolsets as the code has them.
#[test]
fn the_module_docs_name_the_default_toolsets() {
    let docs: String = read("src/native/mod.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let listed: Vec<String> = DEFAULT_TOOLSETS.iter().map(|t| format!("`{t}`")).collect();
    let sentence = format!("by default: {};", listed.join(", "));
    assert!(docs.contains(&sentence), "src/native/mod.rs does not say: {sentence}");
}
